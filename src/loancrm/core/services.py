"""Writes for core: the system parameters (设置 → 系统参数)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record

from .models import SETTINGS_SPEC, SystemSetting

# Every parameter so far is a whole number of days, megabytes, …: at least 1, and small enough that
# code doing date or size arithmetic with it cannot overflow.
SETTING_MIN = 1
SETTING_MAX = 100_000


def system_setting_update(*, by, key: str, value: int) -> SystemSetting:
    """Set one parameter; the audit entry keeps the value before (the default if never set) and after."""
    require_perm(by, Perm.SETTINGS_MANAGE)
    if key not in SETTINGS_SPEC:
        raise ValidationError(_("没有这个系统参数：%(key)s") % {"key": key})
    if not isinstance(value, int) or isinstance(value, bool) or not SETTING_MIN <= value <= SETTING_MAX:
        raise ValidationError(
            {key: _("须为 %(min)s 到 %(max)s 之间的整数") % {"min": SETTING_MIN, "max": SETTING_MAX}}
        )
    with transaction.atomic():
        row = SystemSetting.objects.select_for_update().filter(key=key).first()
        before = SETTINGS_SPEC[key][1] if row is None else row.value
        if row is None:
            row = SystemSetting.objects.create(key=key, value=value)
        else:
            row.value = value
            row.save(update_fields=["value"])
        audit_record(
            action=Action.SETTING_UPDATE,
            actor=by,
            obj=row,
            changes={"value": [before, value]},
            extra={"key": key, "label": str(SETTINGS_SPEC[key][0])},
        )
    return row
