"""Scheduled business reports (seed 000 自动化报表): a daily and a weekly .xlsx of new customers,
applications by node, disbursements and overdue loans, e-mailed to each department's 主管 with only
what that 主管 may see (the same selectors as the pages)."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.models import User

MAX_ROWS = 50_000  # per sheet; the summary counts everything


def period_bounds(period: str, now: datetime) -> tuple[date, date]:
    """[start, end) in local dates: yesterday, or last Monday–Sunday."""
    today = timezone.localtime(now).date()
    if period == "weekly":
        this_monday = today - timedelta(days=today.weekday())
        return this_monday - timedelta(days=7), this_monday
    return today - timedelta(days=1), today


def _aware(d: date) -> datetime:
    return timezone.make_aware(datetime.combine(d, datetime.min.time()))


def report_data(user: User, start: date, end: date) -> dict[str, Any]:
    from loancrm.customers.selectors import customers_visible_to
    from loancrm.intake.models import ApplicationStatus
    from loancrm.intake.selectors import applications_visible_to
    from loancrm.loans.models import LoanStatus
    from loancrm.loans.selectors import loans_visible_to

    t0, t1 = _aware(start), _aware(end)
    customers = (
        customers_visible_to(user).filter(created_at__gte=t0, created_at__lt=t1).order_by("created_at")
    )
    applications = applications_visible_to(user)
    new_applications = applications.filter(created_at__gte=t0, created_at__lt=t1)
    by_node = list(
        applications.filter(status__in=[ApplicationStatus.IN_PROGRESS, ApplicationStatus.APPROVED])
        .values("node__name")
        .annotate(n=Count("id"))
        .order_by("node__order", "node__name")
    )
    loans = loans_visible_to(user)
    disbursed = loans.filter(disbursed_on__gte=start, disbursed_on__lt=end).order_by("disbursed_on", "id")
    overdue = loans.filter(status=LoanStatus.OVERDUE).order_by("-days_past_due", "id")
    return {
        "customers": customers,
        "new_customers": customers.count(),
        "new_applications": new_applications.count(),
        "by_node": by_node,
        "disbursed": disbursed,
        "disbursed_count": disbursed.count(),
        "disbursed_amount": disbursed.aggregate(s=Sum("principal"))["s"] or Decimal("0"),
        "overdue": overdue,
        "overdue_count": overdue.count(),
    }


def report_workbook(user: User, start: date, end: date, path: Path) -> dict[str, Any]:
    from django.utils.translation import gettext

    data = report_data(user, start, end)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})

    def sheet(name: str, headers: list[str], widths: list[int]):
        ws = book.add_worksheet(name)
        for col, (h, w) in enumerate(zip(headers, widths, strict=True)):
            ws.write(0, col, h, bold)
            ws.set_column(col, col, w)
        return ws

    summary = sheet(_("概览"), [_("项目"), _("数量")], [24, 18])
    rows = [
        (_("统计期间"), f"{start.isoformat()} – {(end - timedelta(days=1)).isoformat()}"),
        (_("范围"), str(user.department or _("全部"))),
        (_("新增客户"), data["new_customers"]),
        (_("新进件"), data["new_applications"]),
        (_("放款笔数"), data["disbursed_count"]),
        (_("放款金额（元）"), data["disbursed_amount"]),
        (_("逾期贷款笔数"), data["overdue_count"]),
    ]
    for r, (label, value) in enumerate(rows, 1):
        summary.write(r, 0, label)
        if isinstance(value, Decimal):
            summary.write_number(r, 1, float(value), money)
        else:
            summary.write(r, 1, value)

    ws = sheet(
        _("新增客户"),
        [_("客户编号"), _("姓名/名称"), _("当前阶段"), _("来源渠道"), _("业务员"), _("创建时间")],
        [16, 16, 12, 12, 10, 18],
    )
    from loancrm.dictionaries.selectors import dictionary_labels

    stages, channels = dictionary_labels("stage"), dictionary_labels("channel")
    for r, c in enumerate(data["customers"][:MAX_ROWS], 1):
        ws.write_row(
            r,
            0,
            [
                c.customer_no,
                c.name,
                stages.get(c.stage, c.stage),
                channels.get(c.channel, c.channel),
                c.owner.display_name if c.owner_id else _("公海"),
                timezone.localtime(c.created_at).strftime("%Y-%m-%d %H:%M"),
            ],
        )

    ws = sheet(_("在办进件按节点"), [_("节点"), _("笔数")], [24, 10])
    for r, row in enumerate(data["by_node"], 1):
        ws.write_row(r, 0, [gettext(row["node__name"] or ""), row["n"]])

    ws = sheet(
        _("放款"),
        [_("贷款编号"), _("客户"), _("产品"), _("本金（元）"), _("放款日"), _("业务员")],
        [16, 16, 14, 14, 12, 10],
    )
    for r, loan in enumerate(data["disbursed"].select_related("customer", "product", "owner")[:MAX_ROWS], 1):
        ws.write_row(r, 0, [loan.loan_no, loan.customer.name, loan.product.name])
        ws.write_number(r, 3, float(loan.principal), money)
        ws.write_datetime(r, 4, datetime.combine(loan.disbursed_on, datetime.min.time()))
        ws.write(r, 5, loan.owner.display_name if loan.owner_id else "")

    ws = sheet(
        _("逾期贷款"),
        [_("贷款编号"), _("客户"), _("逾期天数"), _("账龄"), _("逾期金额（元）"), _("业务员")],
        [16, 16, 10, 8, 14, 10],
    )
    for r, loan in enumerate(data["overdue"].select_related("customer", "owner")[:MAX_ROWS], 1):
        ws.write_row(r, 0, [loan.loan_no, loan.customer.name, loan.days_past_due, loan.bucket])
        ws.write_number(r, 4, float(loan.overdue_amount), money)
        ws.write(r, 5, loan.owner.display_name if loan.owner_id else "")
    book.close()
    return data


def report_send(
    *,
    rule,
    people: list[User],
    period: str,
    now: datetime,
    template_code: str = "",
    saved_report_id: int | None = None,
) -> int:
    """Build one workbook per recipient (their own scope) and queue it by e-mail. Returns how many."""
    from django.utils import translation

    from loancrm.notifications.models import Channel, Delivery, MessageTemplate
    from loancrm.notifications.services import delivery_queue, template_render

    start, end = period_bounds(period, now)
    if saved_report_id:
        return _saved_report_send(
            rule=rule, people=people, start=start, end=end, now=now, report_id=saved_report_id
        )
    template = MessageTemplate.objects.filter(code=template_code or "daily_report").first()
    label = (
        start.isoformat()
        if period == "daily"
        else f"{start.isoformat()} – {(end - timedelta(days=1)).isoformat()}"
    )
    sent = 0
    for user in people:
        if not user.email:
            continue
        with translation.override("zh-hans"):
            name = f"{'日报' if period == 'daily' else '周报'}-{start.isoformat()}-{user.username}.xlsx"
            rel = Path("reports") / start.strftime("%Y%m") / f"{rule.code}-{now:%H%M%S}-{name}"
            data = report_workbook(user, start, end, Path(settings.PRIVATE_FILES_DIR) / rel)
        ctx = {
            "org": _org_name(),
            "name": user.display_name,
            "scope": str(user.department or _("全公司")),
            "period_label": label,
            "new_customers": data["new_customers"],
            "new_applications": data["new_applications"],
            "disbursed_count": data["disbursed_count"],
            "disbursed_amount": f"{data['disbursed_amount']:,.2f}",
            "overdue_count": data["overdue_count"],
        }
        delivery_queue(
            channel=Channel.EMAIL,
            audience=Delivery.Audience.STAFF,
            recipient=user.email,
            subject=template_render(template.subject if template else "{{ period_label }}", ctx),
            body=template_render(template.body if template else "", ctx),
            user=user,
            rule=rule,
            source=rule.code,
            attachment=str(rel),
            attachment_name=name,
            now=now,
        )
        sent += 1
    return sent


def _saved_report_send(
    *, rule, people: list[User], start: date, end: date, now: datetime, report_id: int
) -> int:
    """A saved dashboard view (its filters, over the rule's period), one workbook per recipient in
    that recipient's own scope."""
    from django.utils import translation

    from loancrm.notifications.models import Channel, Delivery
    from loancrm.notifications.services import delivery_queue

    from .models import SavedReport
    from .panels import PANELS, ReportFilters
    from .workbook import panels_workbook

    report = SavedReport.objects.filter(pk=report_id).first()
    if report is None:
        return 0
    sent = 0
    for user in people:
        if not user.email:
            continue
        with translation.override("zh-hans"):
            f = ReportFilters.from_params(
                {**report.filters, "from": start.isoformat(), "to": (end - timedelta(days=1)).isoformat()}
            )
            content = panels_workbook([fn(user, f) for fn in PANELS.values()], f)
            name = f"{report.name}-{start.isoformat()}-{user.username}.xlsx"
            rel = (
                Path("reports")
                / start.strftime("%Y%m")
                / f"{rule.code}-{now:%H%M%S}-{report.pk}-{user.username}.xlsx"
            )
            path = Path(settings.PRIVATE_FILES_DIR) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        delivery_queue(
            channel=Channel.EMAIL, audience=Delivery.Audience.STAFF, recipient=user.email,
            subject=f"【{_org_name()}】{report.name} {f.date_from.isoformat()} – {f.date_to.isoformat()}",
            body=_("附件是报表“%(n)s”（%(a)s 至 %(b)s），按您的数据范围统计。") % {"n": report.name, "a": f.date_from, "b": f.date_to},
            user=user, rule=rule, source=rule.code, attachment=str(rel), attachment_name=name, now=now,
        )  # fmt: skip
        sent += 1
    return sent


def _org_name() -> str:
    from loancrm.accounts.selectors import company_name

    return company_name()
