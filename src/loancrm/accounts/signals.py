"""Log-in events into the audit log (Django and django-axes send them; we only record)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record


def _via(request) -> str:
    return "api" if request is not None and request.path.startswith("/api/") else "web"


@receiver(user_logged_in)
def on_logged_in(sender, request, user, **kwargs):
    audit_record(action=Action.LOGIN_SUCCESS, actor=user, obj=user, extra={"via": _via(request)})


@receiver(user_logged_out)
def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action=Action.LOGOUT, actor=user, obj=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    locked = bool(getattr(request, "axes_locked_out", False))
    audit_record(
        action=Action.LOGIN_FAILURE,
        actor_username=str(credentials.get("username", ""))[:150],
        extra={"via": _via(request), "reason": "locked" if locked else "bad_credentials"},
    )


@receiver(user_locked_out)
def on_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    audit_record(action=Action.LOGIN_LOCKED, actor_username=username or "", extra={"ip": ip_address})
