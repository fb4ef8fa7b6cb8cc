from django.db import transaction
from django.db.models import Max

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record, diff, snapshot

from .kinds import KINDS
from .models import DictionaryItem

FIELDS = ["kind", "code", "label", "sort_order", "is_active"]


def dictionaries_ensure_defaults() -> None:
    """Add the shipped items that are missing (never changes an item an admin edited)."""
    existing = set(DictionaryItem.objects.values_list("kind", "code"))
    DictionaryItem.objects.bulk_create(
        [
            DictionaryItem(kind=kind, code=code, label=label, sort_order=(i + 1) * 10)
            for kind, (_name, items) in KINDS.items()
            for i, (code, label) in enumerate(items)
            if (kind, code) not in existing
        ]
    )


def dictionary_item_create(*, by, kind: str, code: str, label: str) -> DictionaryItem:
    require_perm(by, Perm.SETTINGS_MANAGE)
    with transaction.atomic():
        top = DictionaryItem.objects.filter(kind=kind).aggregate(m=Max("sort_order"))["m"] or 0
        item = DictionaryItem.objects.create(kind=kind, code=code, label=label, sort_order=top + 10)
        audit_record(
            action=Action.DICTIONARY_UPDATE, actor=by, obj=item, changes=diff({}, snapshot(item, FIELDS))
        )
    return item


def dictionary_item_update(
    *, by, item: DictionaryItem, label: str, sort_order: int, is_active: bool
) -> DictionaryItem:
    require_perm(by, Perm.SETTINGS_MANAGE)
    with transaction.atomic():
        before = snapshot(item, FIELDS)
        item.label, item.sort_order, item.is_active = label, sort_order, is_active
        item.save()
        audit_record(
            action=Action.DICTIONARY_UPDATE, actor=by, obj=item, changes=diff(before, snapshot(item, FIELDS))
        )
    return item
