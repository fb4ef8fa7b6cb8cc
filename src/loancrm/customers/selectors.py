"""Every read of customers, already limited to what the requesting user may see."""

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import department_subtree_ids, scope_queryset
from loancrm.core.crypto import blind_index

from . import validators as v
from .fields import SENSITIVE
from .models import Customer, SavedFilter

SORTABLE = {
    "id", "-id", "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at",
    "next_follow_up_at", "-next_follow_up_at", "expected_amount", "-expected_amount", "customer_no", "-customer_no",
}  # fmt: skip


def customers_visible_to(user) -> QuerySet[Customer]:
    if not getattr(user, "is_authenticated", False) or not user.has_perm_code(Perm.CUSTOMER_VIEW):
        return Customer.objects.none()
    return scope_queryset(user, Customer.objects.select_related("owner", "department"))


def customer_get_for(user, customer_id: int) -> Customer:
    """The customer if `user` may see it; 404 both when it is missing and when it is out of scope."""
    try:
        return customers_visible_to(user).get(pk=customer_id)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


# The lists the 360 page shows under a customer's fields.
DETAIL_LISTS = ("tags", "related_persons", "assets", "attachments")


@functools.cache
def _lists_exist_sql(vendor: str) -> str:
    ops = connections[Customer.objects.db].ops
    parts = []
    for name in DETAIL_LISTS:
        rel = Customer._meta.get_field(name)
        if rel.many_to_many:
            table, column = rel.remote_field.through._meta.db_table, rel.m2m_column_name()
        else:
            table, column = rel.related_model._meta.db_table, rel.field.column
        parts.append(f"EXISTS(SELECT 1 FROM {ops.quote_name(table)} WHERE {ops.quote_name(column)} = %s)")
    return "SELECT " + ", ".join(parts)


def customer_detail_lists(customer: Customer) -> dict[str, list]:
    """Tags, related persons, assets and attachments of a customer the caller may already see.

    One indexed EXISTS query first tells which of them have rows, so a customer with none of them
    (most new leads) costs one cheap query instead of four ORM queries.
    """
    connection = connections[Customer.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_lists_exist_sql(connection.vendor), [customer.pk] * len(DETAIL_LISTS))
        present = cursor.fetchone()
    return {
        name: list(getattr(customer, name).all()) if has else []
        for name, has in zip(DETAIL_LISTS, present, strict=True)
    }


def can_reveal(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm_code(Perm.CUSTOMER_REVEAL))


@dataclass
class CustomerFilters:
    search: str = ""
    customer_type: str = ""
    stage: str = ""
    channel: str = ""
    owner_id: int | None = None
    department_id: int | None = None
    region: str = ""
    created_from: date | None = None
    created_to: date | None = None
    follow_up: str = ""  # "due" (today), "overdue", "none"
    tag_id: int | None = None
    ordering: str = "-id"


def _search(qs: QuerySet[Customer], text: str) -> QuerySet[Customer]:
    """Name prefix, customer number, full phone or full ID number (exact matches via the blind index)."""
    text = v.to_halfwidth(text).strip()
    if not text:
        return qs
    upper = text.upper().replace(" ", "")
    if upper.startswith("KH"):
        return qs.filter(customer_no__startswith=upper)
    digits = upper.replace("-", "")
    if len(digits) >= 15 and digits[:-1].isdigit():
        try:
            return qs.filter(id_number_bidx=blind_index(v.normalize_resident_id(digits)))
        except Exception:  # not a valid resident ID: fall through to other searches
            pass
    if digits.lstrip("+").isdigit() and len(digits) >= 11:
        try:
            return qs.filter(phone_bidx=blind_index(v.normalize_mobile(digits)))
        except Exception:
            return qs.none()
    if len(upper) == 18:
        try:
            return qs.filter(uscc=v.normalize_uscc(upper))
        except Exception:
            pass
    # A range rather than LIKE 'x%': SQLite's LIKE is case-insensitive and cannot use the index.
    return qs.filter(name__gte=text, name__lt=text + "\U0010ffff")


def customer_list(user, filters: CustomerFilters | None = None, **kwargs: Any) -> QuerySet[Customer]:
    f = filters or CustomerFilters(**kwargs)
    qs = _search(customers_visible_to(user), f.search)
    if f.customer_type:
        qs = qs.filter(customer_type=f.customer_type)
    if f.stage:
        qs = qs.filter(stage=f.stage)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.owner_id:
        qs = qs.filter(owner_id=f.owner_id)
    if f.department_id:
        qs = qs.filter(department_id__in=department_subtree_ids(f.department_id))
    if f.region:
        qs = qs.filter(department__region=f.region)
    tz = timezone.get_current_timezone()
    if f.created_from:
        qs = qs.filter(created_at__gte=datetime.combine(f.created_from, time.min, tz))
    if f.created_to:
        qs = qs.filter(created_at__lt=datetime.combine(f.created_to + timedelta(days=1), time.min, tz))
    now = timezone.now()
    if f.follow_up == "overdue":
        qs = qs.filter(next_follow_up_at__lt=now)
    elif f.follow_up == "due":
        end = datetime.combine(timezone.localdate() + timedelta(days=1), time.min, tz)
        qs = qs.filter(next_follow_up_at__gte=now, next_follow_up_at__lt=end)
    elif f.follow_up == "none":
        qs = qs.filter(next_follow_up_at__isnull=True)
    if f.tag_id:
        qs = qs.filter(tags__id=f.tag_id)
    return qs.order_by(f.ordering if f.ordering in SORTABLE else "-id")


def stage_counts(qs: QuerySet[Customer]) -> dict[str, int]:
    """Customers per current stage (seed 000: group by loan status), for the list's tabs."""
    return dict(qs.order_by().values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))


def pool_customers_for(user) -> QuerySet[Customer]:
    """Unowned customers of the user's department (and below) that they may claim."""
    if not getattr(user, "is_authenticated", False) or not user.has_perm_code(Perm.CUSTOMER_VIEW):
        return Customer.objects.none()
    if not user.department_id:
        return Customer.objects.none()
    ids = department_subtree_ids(user.department_id)
    return Customer.objects.filter(owner__isnull=True, department_id__in=ids).order_by("-pooled_at", "-id")


def saved_filters_for(user) -> QuerySet[SavedFilter]:
    return SavedFilter.objects.filter(user=user)


@dataclass
class TimelineEvent:
    at: datetime
    kind: str  # follow_up | change | attachment | transfer
    title: str
    body: str
    who: str


def customer_history(customer: Customer, *, reveal: bool) -> list[dict]:
    """Versions newest first, each with who/when and the fields it changed (sensitive ones masked)."""
    from loancrm.dictionaries.selectors import dictionary_labels

    from .fields import DICTIONARY_FIELDS

    labels = {name: dictionary_labels(kind) for name, kind in DICTIONARY_FIELDS.items()}
    records = list(
        customer.history.select_related("history_user").order_by("-history_date", "-history_id")[:200]
    )
    out = []
    if not records:  # rows loaded in bulk (demo data) have no history yet
        return out
    for newer, older in zip(records, records[1:] + [None], strict=True):
        changes = []
        if older is not None:
            delta = newer.diff_against(older)
            for change in delta.changes:
                field = Customer._meta.get_field(change.field)
                old, new = change.old, change.new
                if change.field in SENSITIVE and not reveal:
                    masker = {
                        "phone": v.mask_phone,
                        "backup_phone": v.mask_phone,
                        "id_number": v.mask_id_number,
                    }
                    mask = masker.get(change.field, v.mask_bank_card)
                    old, new = mask(old or ""), mask(new or "")
                if change.field in labels:
                    old, new = labels[change.field].get(old, old), labels[change.field].get(new, new)
                elif field.choices:
                    choices = dict(field.flatchoices)
                    old, new = choices.get(old, old), choices.get(new, new)
                changes.append({"field": str(field.verbose_name), "old": old, "new": new})
        out.append(
            {
                "id": newer.history_id,
                "at": newer.history_date,
                "who": newer.history_user.display_name if newer.history_user else "—",
                "type": newer.get_history_type_display(),
                "reason": newer.history_change_reason or "",
                "changes": changes,
            }
        )
    return out


def customer_timeline(customer: Customer, *, reveal: bool, limit: int = 100) -> list[TimelineEvent]:
    from django.utils.translation import gettext as _

    events: list[TimelineEvent] = []
    for f in customer.follow_ups.select_related("by")[:limit]:
        body = f.content + ("\n" + _("下一步：%(step)s") % {"step": f.next_step} if f.next_step else "")
        events.append(TimelineEvent(f.at, "follow_up", _("跟进"), body, f.by.display_name))
    for h in customer_history(customer, reveal=reveal)[:limit]:
        body = "；".join(f"{c['field']}：{c['old'] or '—'} → {c['new'] or '—'}" for c in h["changes"])
        events.append(TimelineEvent(h["at"], "change", h["type"], body or h["reason"], h["who"]))
    for a in customer.attachments.select_related("uploaded_by")[:limit]:
        events.append(
            TimelineEvent(
                a.uploaded_at, "attachment", _("上传附件"), a.original_name, a.uploaded_by.display_name
            )
        )
    for t in customer.transfers.select_related("from_owner", "to_owner", "by")[:limit]:
        frm = t.from_owner.display_name if t.from_owner else _("公海")
        to = t.to_owner.display_name if t.to_owner else _("公海")
        events.append(
            TimelineEvent(t.at, "transfer", _("交接"), f"{frm} → {to}：{t.reason}", t.by.display_name)
        )
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]
