"""Permission checks that leave a trace: every refusal is in the audit log."""

from django.core.exceptions import PermissionDenied

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record

from .permissions import PERM_LABELS, Perm


def record_denial(user, perm: Perm | str, *, path: str = "") -> None:
    audit_record(
        action=Action.PERMISSION_DENIED,
        actor=user if getattr(user, "is_authenticated", False) else None,
        extra={"permission": str(perm), "path": path},
    )


def require_perm(user, perm: Perm, *, path: str = "") -> None:
    """Raise PermissionDenied (and audit it) unless the user's role holds `perm`.

    Call it before opening a transaction, so the denial entry is not rolled back with the work.
    """
    if getattr(user, "is_authenticated", False) and user.has_perm_code(perm):
        return
    record_denial(user, perm, path=path)
    raise PermissionDenied(str(PERM_LABELS.get(perm, perm)))
