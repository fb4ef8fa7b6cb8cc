from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record, diff, snapshot

from .kinds import KINDS
from .models import DictionaryItem

FIELDS = ["kind", "code", "label", "sort_order", "is_active"]
CODE_MAX = DictionaryItem._meta.get_field("code").max_length
LABEL_MAX = DictionaryItem._meta.get_field("label").max_length
SORT_MAX = 1_000_000


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
    from .selectors import dictionary_cache_clear

    dictionary_cache_clear()


def _clean_label(kind: str, label: str, *, exclude_pk: int | None = None) -> str:
    """A label is required and unique within its kind: imports map a typed label back to its code."""
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": _("请填写名称")})
    if len(label) > LABEL_MAX:
        raise ValidationError({"label": _("名称最多 %(limit)s 个字") % {"limit": LABEL_MAX}})
    taken = DictionaryItem.objects.filter(kind=kind, label=label).exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"label": _("该字典中已有名称“%(label)s”，请换一个") % {"label": label}})
    return label


def _clean_code(kind: str, code: str) -> str:
    code = (code or "").strip().lower()
    if not code:
        raise ValidationError({"code": _("请填写代码")})
    if len(code) > CODE_MAX:
        raise ValidationError({"code": _("代码最多 %(limit)s 个字符") % {"limit": CODE_MAX}})
    try:
        validate_slug(code)
    except ValidationError:
        raise ValidationError(
            {"code": _("代码只能由小写英文字母、数字、下划线或连字符组成，例如 xiaohongshu")}
        ) from None
    if DictionaryItem.objects.filter(kind=kind, code=code).exists():
        raise ValidationError({"code": _("该字典中已有代码“%(code)s”，请换一个") % {"code": code}})
    return code


def dictionary_item_create(*, by, kind: str, code: str, label: str) -> DictionaryItem:
    """Add an item at the end of its kind. Raises ValidationError keyed by field for bad input."""
    require_perm(by, Perm.SETTINGS_MANAGE)
    if kind not in KINDS:
        raise ValidationError({"kind": _("没有这个数据字典")})
    errors: dict[str, list[str]] = {}
    try:
        code = _clean_code(kind, code)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        label = _clean_label(kind, label)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            top = DictionaryItem.objects.filter(kind=kind).aggregate(m=Max("sort_order"))["m"] or 0
            item = DictionaryItem.objects.create(kind=kind, code=code, label=label, sort_order=top + 10)
            audit_record(
                action=Action.DICTIONARY_UPDATE, actor=by, obj=item, changes=diff({}, snapshot(item, FIELDS))
            )
    except IntegrityError:  # someone added the same code a moment ago
        raise ValidationError({"code": _("该字典中已有代码“%(code)s”，请换一个") % {"code": code}}) from None
    return item


def dictionary_item_update(
    *, by, item: DictionaryItem, label: str, sort_order: int, is_active: bool
) -> DictionaryItem:
    """Rename, reorder or (de)activate an item; its code never changes and it is never deleted."""
    require_perm(by, Perm.SETTINGS_MANAGE)
    label = _clean_label(item.kind, label, exclude_pk=item.pk)
    if not isinstance(sort_order, int) or isinstance(sort_order, bool) or not 0 <= sort_order <= SORT_MAX:
        raise ValidationError({"sort_order": _("排序须为 0 到 %(max)s 之间的整数") % {"max": SORT_MAX}})
    with transaction.atomic():
        before = snapshot(item, FIELDS)
        item.label, item.sort_order, item.is_active = label, sort_order, bool(is_active)
        changes = diff(before, snapshot(item, FIELDS))
        if changes:  # saving an unchanged row leaves no entry in the audit log
            item.save(update_fields=["label", "sort_order", "is_active"])
            audit_record(action=Action.DICTIONARY_UPDATE, actor=by, obj=item, changes=changes)
    return item
