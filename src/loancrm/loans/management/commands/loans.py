"""`loancrm loans schedule --principal 100000 --annual-rate 0.0435 --months 12 --method annuity
--start 2026-01-31 [--json]`: a repayment schedule (conventions in `loancrm.loans.schedules`).

Without `--json` it prints a table in Chinese; with `--json` its only line is a JSON list of
`{"period", "due_date", "principal", "interest", "payment", "balance"}` (money as strings, two
decimals). A bad option is reported on stderr, naming the option, with exit code 2."""

import json
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loancrm.loans.schedules import METHOD_LABELS, Method, ScheduleInputError, schedule

OPTIONS = {
    "principal": "--principal",
    "annual_rate": "--annual-rate",
    "months": "--months",
    "method": "--method",
    "start": "--start",
}


def _bad(field: str, message: str) -> CommandError:
    return CommandError(f"{OPTIONS[field]}：{message}", returncode=2)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


class Command(BaseCommand):
    help = gettext_lazy(
        "贷款工具。loancrm loans schedule …：按本金、年利率、期数、还款方式和起始日生成还款计划。"
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="schedule")
        sub = actions.add_parser(
            "schedule", help=_("生成还款计划"), description=_("生成还款计划（精确到分）")
        )
        # Checked in handle(), not by argparse, so that every complaint is in Chinese and names the option.
        sub.add_argument("--principal", help=_("本金（元，最多两位小数），如 100000"))
        sub.add_argument("--annual-rate", help=_("年利率，按小数填写：4.35%% 填 0.0435（0 到 0.36）"))
        sub.add_argument("--months", help=_("期数（月，1 到 360）"))
        sub.add_argument(
            "--method",
            help=_("还款方式：%(choices)s")
            % {"choices": "，".join(f"{m.value} {METHOD_LABELS[m]}" for m in Method)},
        )
        sub.add_argument("--start", help=_("起始日（放款日）YYYY-MM-DD；第 k 期在其后 k 个月"))
        sub.add_argument("--json", action="store_true", help=_("输出一行 JSON 列表"))

    def handle(self, *args, action, **options):
        if action == "schedule":
            self.schedule(**options)

    def schedule(self, *, principal, annual_rate, months, method, start, json: bool = False, **_options):
        for field, value in (
            ("principal", principal),
            ("annual_rate", annual_rate),
            ("months", months),
            ("method", method),
            ("start", start),
        ):
            if value is None or not str(value).strip():
                raise _bad(field, _("必须填写"))
        try:
            principal_value = Decimal(principal.strip())
        except InvalidOperation:
            raise _bad("principal", _("不是数字：%(value)s") % {"value": principal}) from None
        try:
            rate_value = Decimal(annual_rate.strip())
        except InvalidOperation:
            raise _bad(
                "annual_rate", _("不是数字：%(value)s（4.35%% 请填 0.0435）") % {"value": annual_rate}
            ) from None
        try:
            months_value = int(months.strip())
        except ValueError:
            raise _bad("months", _("须为整数月数：%(value)s") % {"value": months}) from None
        try:
            start_value = date.fromisoformat(start.strip())
        except ValueError:
            raise _bad("start", _("须为日期 YYYY-MM-DD：%(value)s") % {"value": start}) from None
        try:
            rows = schedule(
                principal=principal_value,
                annual_rate=rate_value,
                months=months_value,
                method=method.strip(),
                start=start_value,
            )
        except ScheduleInputError as exc:
            raise _bad(exc.field, exc.text) from None
        if json:
            self.stdout.write(_dumps([row.as_dict() for row in rows]))
            return
        self._table(rows, Method(method.strip()), principal_value, rate_value, months_value, start_value)

    def _table(self, rows, method, principal, rate, months, start):
        self.stdout.write(
            _("%(method)s｜本金 %(principal)s 元｜年利率 %(rate)s%%｜%(months)s 期｜起始日 %(start)s")
            % {
                "method": METHOD_LABELS[method],
                "principal": f"{principal:,.2f}",
                "rate": _plain(rate * 100),
                "months": months,
                "start": start.isoformat(),
            }
        )
        header = [_("期数"), _("到期日"), _("本金"), _("利息"), _("应还"), _("剩余本金")]
        body = [
            [str(r.period), r.due_date.isoformat()]
            + [f"{v:,.2f}" for v in (r.principal, r.interest, r.payment, r.balance)]
            for r in rows
        ]
        total = [_("合计"), ""] + [
            f"{sum(getattr(r, name) for r in rows):,.2f}" for name in ("principal", "interest", "payment")
        ]
        total.append("")
        widths = [max(_width(line[i]) for line in [header, *body, total]) for i in range(len(header))]
        for line in [header, *body, total]:
            cells = [_pad(cell, widths[i], right=i != 1) for i, cell in enumerate(line)]
            self.stdout.write("  ".join(cells).rstrip())


def _plain(value: Decimal) -> str:
    """4.3500 → 4.35, 1E+1 → 10, 0.00 → 0."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
