"""Reads of notifications, to-dos and deliveries, scoped to the asking user."""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm

from .models import Delivery, Notification, Todo


def notifications_for(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_get_for(user: User, notification_id: int) -> Notification:
    n = Notification.objects.filter(user=user, pk=notification_id).first()
    if n is None:
        raise Http404
    return n


def todos_for(user: User, *, team_user_ids: list[int] | None = None) -> QuerySet[Todo]:
    qs = Todo.objects.filter(status=Todo.Status.OPEN).select_related("user", "customer", "rule")
    if team_user_ids is not None:
        return qs.filter(user_id__in=team_user_ids)
    return qs.filter(user=user)


def todo_get_for(user: User, todo_id: int) -> Todo:
    todo = Todo.objects.filter(user=user, pk=todo_id).first()
    if todo is None:
        raise Http404
    return todo


@dataclass
class DeliveryFilters:
    rule: str = ""  # rule id or code
    status: str = ""
    channel: str = ""


def deliveries_for_admin(user: User, filters: DeliveryFilters | None = None) -> QuerySet[Delivery]:
    """The delivery log: for those who manage rules (others get an empty list, the view a 403)."""
    if not user.has_perm_code(Perm.RULES_MANAGE):
        return Delivery.objects.none()
    qs = Delivery.objects.select_related("rule", "customer", "user").order_by("-created_at", "-id")
    f = filters or DeliveryFilters()
    if f.rule:
        rule = str(f.rule)
        # ASCII digits only ("²".isdigit() is true but int() refuses it); an id no row can have (past
        # 64 bits, which the database cannot even compare) matches nothing instead of failing.
        if rule.isascii() and rule.isdigit():
            qs = qs.filter(rule_id=int(rule)) if int(rule) < 2**63 else qs.none()
        else:
            qs = qs.filter(rule__code=rule)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    return qs


def delivery_get_for_admin(user: User, delivery_id: int) -> Delivery:
    d = deliveries_for_admin(user).filter(pk=delivery_id).first()
    if d is None:
        raise Http404
    return d
