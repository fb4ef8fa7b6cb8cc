"""Writes of the reports app: saved reports and channel costs (with their audit entries)."""

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.customers.cleaning import positive_yuan

from .models import ChannelCost, SavedReport


def saved_report_save(*, by: User, name: str, filters: dict[str, Any]) -> SavedReport:
    require_perm(by, Perm.REPORTS_VIEW)
    name = (name or "").strip()[:60]
    if not name:
        raise ValidationError({"name": [_("请填写报表名称")]})
    with transaction.atomic():
        report, created = SavedReport.objects.update_or_create(
            user=by, name=name, defaults={"filters": filters}
        )
        audit_record(
            action=Action.REPORT_SAVE, actor=by, obj=report, extra={"filters": filters, "created": created}
        )
    return report


def saved_report_delete(*, by: User, report: SavedReport) -> None:
    if report.user_id != by.pk:
        raise ValidationError(_("只能删除自己保存的报表"))
    with transaction.atomic():
        audit_record(action=Action.REPORT_SAVE, actor=by, obj=report, extra={"deleted": True})
        report.delete()


def channel_cost_save(*, by: User, month: date, channel: str, amount: Any) -> ChannelCost:
    require_perm(by, Perm.SETTINGS_MANAGE)
    value: Decimal = (
        positive_yuan(amount, "amount") if str(amount).strip() not in ("0", "0.00") else Decimal("0")
    )
    with transaction.atomic():
        cost, _created = ChannelCost.objects.update_or_create(
            month=month.replace(day=1),
            channel=channel,
            defaults={"amount": value, "updated_by": by, "updated_at": timezone.now()},
        )
        audit_record(
            action=Action.SETTING_UPDATE,
            actor=by,
            obj=cost,
            extra={"month": month.replace(day=1).isoformat(), "channel": channel, "amount": str(value)},
        )
    return cost


def report_export_record(*, by: User, panels: list[str], filters: dict[str, str], fmt: str) -> None:
    """Exports of report data are audited like customer exports (who took what, with which filters)."""
    audit_record(
        action=Action.REPORT_EXPORT, actor=by, extra={"panels": panels, "filters": filters, "format": fmt}
    )
