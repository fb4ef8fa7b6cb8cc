from datetime import date

from django.db.models import QuerySet

from loancrm.accounts.permissions import Perm

from .models import AuditEntry


def audit_entries_visible_to(user) -> QuerySet[AuditEntry]:
    if not getattr(user, "is_authenticated", False) or not user.has_perm_code(Perm.AUDIT_VIEW):
        return AuditEntry.objects.none()
    return AuditEntry.objects.select_related("actor")


def audit_entries_filtered(
    user,
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    ip: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEntry]:
    qs = audit_entries_visible_to(user)
    if actor:
        qs = qs.filter(actor_username=actor)
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if ip:
        qs = qs.filter(ip=ip)
    if date_from:
        qs = qs.filter(at__date__gte=date_from)
    if date_to:
        qs = qs.filter(at__date__lte=date_to)
    return qs.order_by("-at", "-id")
