from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz", "/api/", "/i18n/", "/favicon")


class TwoFactorMiddleware:
    """Send a signed-in user who has not passed TOTP to verify it (or to enrol, when the role demands it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not user.is_verified()
        ):
            # Remember "no authenticator" in the session: one query per log-in, not per request.
            if not request.session.get("otp_none"):
                if user_has_device(user):
                    return redirect(f"{reverse('accounts:otp_verify')}?next={request.path}")
                request.session["otp_none"] = True
            if user.role_id and user.role.require_2fa:
                return redirect(reverse("accounts:otp_enrol"))
        return self.get_response(request)


class IdleTimeoutMiddleware:
    """Sliding idle timeout without a session write on every request.

    The session's expiry moves forward (a save) at most once a minute; a session idle for
    SESSION_IDLE_MINUTES expires, give or take that minute. Saving on every request would add a
    database write to every page view.
    """

    TOUCH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        import time

        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty() and getattr(request, "user", None) is not None:
            now = int(time.time())
            if request.user.is_authenticated and now - session.get("_touched", 0) >= self.TOUCH_SECONDS:
                session["_touched"] = now
        return response
