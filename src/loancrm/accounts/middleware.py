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
            if not request.session.get("otp_none") and user_has_device(user):
                return redirect(f"{reverse('accounts:otp_verify')}?next={request.path}")
            request.session["otp_none"] = True
            if user.role_id and user.role.require_2fa:
                return redirect(reverse("accounts:otp_enrol"))
        return self.get_response(request)
