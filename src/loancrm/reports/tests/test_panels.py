"""Each panel's figures against counts computed here, directly, from known fixture data; scope; drill-down
links land on lists showing the same number; exports."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loancrm.conftest import login
from loancrm.core.demo.intake import ensure_products
from loancrm.core.demo.loans import ensure_loan_terms
from loancrm.customers.models import Customer, FollowUp
from loancrm.intake import services as intake
from loancrm.intake.models import LoanApplication, Transition
from loancrm.intake.services import ensure_default_workflow
from loancrm.loans.models import Loan
from loancrm.reports import facts, panels
from loancrm.reports.models import ChannelCost
from loancrm.reports.panels import ReportFilters

NOW = timezone.now()
TODAY = timezone.localdate()


def month_filters(**kw) -> ReportFilters:
    return ReportFilters(date_from=TODAY.replace(day=1) - timedelta(days=40), date_to=TODAY, **kw)


def rows_by_first(panel) -> dict[str, list]:
    return {str(r[0]): r for r in panel.rows}


@pytest.fixture
def business(org):
    """Known data: 3 抖音 leads of sales1, 2 转介绍 leads of sales2, 1 微信 lead of sales3 (银川二部); two
    applications of sales1 (one disbursed), one of sales2 (rejected), one of sales3."""
    ensure_default_workflow()
    products = ensure_products()
    ensure_loan_terms(products)
    made = {}
    plan = [("sales1", "douyin", 3), ("sales2", "referral", 2), ("sales3", "wechat", 1)]
    n = 0
    for username, channel, count in plan:
        u = org[username]
        for i in range(count):
            n += 1
            c = Customer.objects.create(
                name=f"测{n}", customer_no=f"RPT{n:04d}", owner=u, department=u.department, channel=channel,
                customer_type="individual", phone=f"1399500{n:04d}", expected_amount=Decimal(60000 * n),
                created_at=NOW - timedelta(days=2, hours=i),
            )  # fmt: skip
            made.setdefault(username, []).append(c)
    FollowUp.objects.create(
        customer=made["sales1"][0],
        by=org["sales1"],
        way="电话",
        content="联系",
        at=made["sales1"][0].created_at + timedelta(hours=3),
    )

    def app(customer, owner, amount=30000):
        return intake.application_create(
            by=owner,
            customer=customer,
            product=products["xinyidai"],
            amount=amount,
            term_months=12,
            credit_grade="good",
        )

    a1 = app(made["sales1"][0], org["sales1"])
    a2 = app(made["sales1"][1], org["sales1"], 45000)
    a3 = app(made["sales2"][0], org["sales2"])
    a4 = app(made["sales3"][0], org["sales3"])
    # a1 goes all the way to a loan; a3 is rejected at 预审.
    while a1.node.code != "disbursement":
        if a1.node.code == "materials":
            for req in intake.missing_materials(a1):
                pdf = SimpleUploadedFile(f"{req.kind}.pdf", b"%PDF-1.4\n", content_type="application/pdf")
                intake.material_upload(by=a1.owner, application=a1, kind=req.kind, upload=pdf)
        for task in list(a1.tasks.filter(status="open", visit=a1.visit)):
            a1 = intake.application_act(by=task.assignee, application=a1, action="submit")
    from loancrm.loans import services as loans

    loan = loans.loan_disburse(
        by=a1.handler,
        application=a1,
        contract_no="HT-R1",
        annual_rate="7.2%",
        method="annuity",
        disbursed_on=TODAY,
    )
    a3 = intake.application_act(by=a3.handler, application=a3, action="submit")  # 进件 → 预审
    intake.application_act(by=a3.handler, application=a3, action="reject", comment="资质不符")
    facts.facts_refresh()
    facts.rolls_refresh()
    return {"customers": made, "apps": [a1, a2, a3, a4], "loan": loan}


def test_channel_panel_counts_leads_applications_and_loans(org, business):
    p = panels.channel_panel(org["admin"], month_filters())
    rows = rows_by_first(p)
    assert rows["抖音"][1:3] == [3, 2] and rows["抖音"][4] == 1
    assert rows["抖音"][6] == f"{business['loan'].principal:,.2f}"
    assert rows["老客户转介绍"][1:3] == [2, 1]
    assert rows["微信/朋友圈"][1:3] == [1, 1]
    # The manager of 银川一部 sees only his department's channels.
    mine = rows_by_first(panels.channel_panel(org["manager1"], month_filters()))
    assert "微信/朋友圈" not in mine and mine["抖音"][1] == 3
    # A channel filter keeps one row.
    assert [r[0] for r in panels.channel_panel(org["admin"], month_filters(channel="douyin")).rows] == [
        "抖音"
    ]


def test_cost_per_lead_uses_the_admins_channel_cost(org, business):
    ChannelCost.objects.create(month=TODAY.replace(day=1), channel="douyin", amount=Decimal("1000"))
    row = rows_by_first(panels.channel_panel(org["admin"], month_filters()))["抖音"]
    assert row[7] == "1,000.00" and row[8] == "333.33"


def test_sales_panel_matches_direct_counts(org, business):
    rows = rows_by_first(panels.sales_panel(org["admin"], month_filters()))
    for username in ("sales1", "sales2", "sales3"):
        u = org[username]
        row = rows[u.display_name]
        assert row[1] == Customer.objects.filter(owner=u, created_at__gte=NOW - timedelta(days=40)).count()
        assert row[3] == LoanApplication.objects.filter(owner=u).count()
        approved = LoanApplication.objects.filter(
            owner=u, status__in=["approved", "disbursed", "closed"]
        ).count()
        assert row[4] == approved
    assert rows[org["sales1"].display_name][2] == "33.3%"  # 1 of 3 leads followed up within 24 h
    assert rows[org["sales1"].display_name][5] == "100.0%"  # 1 approved, 0 rejected
    assert rows[org["sales2"].display_name][5] == "0.0%"  # 0 approved, 1 rejected
    assert rows[org["sales1"].display_name][6] == f"{business['loan'].principal:,.2f}"
    from django.db.models import Sum

    from loancrm.loans.models import RepaymentInstallment

    f = month_filters()
    due = RepaymentInstallment.objects.filter(
        loan__owner=org["sales1"], due_date__gte=f.date_from, due_date__lte=f.date_to
    ).aggregate(s=Sum("payment_due"))["s"] or Decimal("0")
    assert rows[org["sales1"].display_name][7] == f"{due:,.2f}"
    # A salesperson filter keeps that person only.
    only = panels.sales_panel(org["admin"], month_filters(owner_id=org["sales2"].pk))
    assert [r[0] for r in only.rows] == [org["sales2"].display_name]


def test_node_time_panel_counts_each_node_it_left(org, business):
    p = panels.node_time_panel(org["admin"], month_filters())
    rows = rows_by_first(p)
    for code, name in [("intake", "进件/线索分配"), ("precheck", "初步沟通与预审")]:
        expected = Transition.objects.filter(from_node=code, seconds_in_node__isnull=False).count()
        assert rows[name][1] == expected
    import statistics

    secs = list(
        Transition.objects.filter(from_node="intake", seconds_in_node__isnull=False).values_list(
            "seconds_in_node", flat=True
        )
    )
    assert rows["进件/线索分配"][2] == round(statistics.fmean(secs) / 3600, 1)
    in_progress = LoanApplication.objects.filter(status__in=["in_progress", "approved"])
    assert sum(r[5] for r in p.rows) == in_progress.count()
    assert p.links[0] == reverse("intake:list") + "?node=intake&status=in_progress"


def test_portrait_panel(org, business):
    p = panels.portrait_panel(org["admin"], month_filters())
    assert rows_by_first(p)["薪易贷（个人信用贷）"][1] == 4
    amounts = {r[0]: r[1] for r in p.extra[1].rows}
    assert sum(amounts.values()) == 6
    assert amounts["5万–10万"] == 1 and amounts["10万–30万"] == 3 and amounts["30万–100万"] == 2


def test_overdue_panel_matches_loan_counts(org, business):
    loan = business["loan"]
    Loan.objects.filter(pk=loan.pk).update(status="overdue", bucket="M1", overdue_amount=Decimal("2700.50"))
    p = panels.overdue_panel(org["admin"], month_filters())
    m1 = next(r for r in p.rows if r[0].startswith("M1"))
    assert m1[1] == 1 and m1[2] == "2,700.50"
    assert panels.overdue_panel(org["sales1"], month_filters()).rows[0][1] == 1  # own loan
    assert (
        next(r for r in panels.overdue_panel(org["manager1"], month_filters()).rows if r[0].startswith("M1"))[
            1
        ]
        == 1
    )


def test_buckets_are_read_back_from_the_instalments(org, business):
    """A loan whose first instalment is unpaid: current until it falls due, then late by the days since."""
    loan = business["loan"]
    first = loan.installments.order_by("period").first()
    assert facts.buckets_at(first.due_date)[loan.pk] == "M0"
    assert facts.buckets_at(first.due_date + timedelta(days=5))[loan.pk] == "M1"
    assert facts.buckets_at(first.due_date + timedelta(days=45))[loan.pk] == "M2"
    first.paid_on, first.status = first.due_date + timedelta(days=10), "paid"
    first.save()
    assert facts.buckets_at(first.due_date + timedelta(days=11))[loan.pk] == "M0"


def test_service_panel(org, business):
    rows = rows_by_first(panels.service_panel(org["admin"], month_filters()))
    assert rows["进件数"][1] == 4
    assert (
        rows["已审批的进件（通过或拒绝）"][1]
        == LoanApplication.objects.exclude(status="in_progress").count()
        == 2
    )


def test_pages_scope_drill_down_and_exports(client, org, business):
    from python_calamine import CalamineWorkbook

    login(client, org["manager1"])
    page = client.get(reverse("reports:dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    for key in panels.PANELS:
        assert f'hx-get="/reports/panel/{key}/' in html
    assert "echarts-6.1.0/echarts.min.js" in html and "统计截至" in html
    q = month_filters().as_params()
    part = client.get(reverse("reports:panel", args=["channel"]), q).content.decode()
    assert "抖音" in part and "微信/朋友圈" not in part and "data-chart=" in part
    # The drill-down link of 抖音 opens the customer list with those 3 leads.
    p = panels.channel_panel(org["manager1"], month_filters())
    link = p.links[[r[0] for r in p.rows].index("抖音")]
    listing = client.get(link)
    assert "共 3 条" in listing.content.decode()
    book = client.get(reverse("reports:export"), q)
    assert book["Content-Type"].startswith("application/vnd.openxmlformats")
    tmp = CalamineWorkbook.from_filelike(__import__("io").BytesIO(book.content))
    assert "渠道分析" in tmp.sheet_names and "业务员业绩" in tmp.sheet_names
    pdf = client.get(reverse("reports:pdf"), q)
    assert pdf.content[:4] == b"%PDF"
    from loancrm.audit.models import AuditEntry

    assert AuditEntry.objects.filter(action="report.export", actor=org["manager1"]).count() == 2
    # Saved with its filters, listed, deleted.
    client.post(reverse("reports:save"), {**q, "channel": "douyin", "name": "抖音月报"})
    assert "抖音月报" in client.get(reverse("reports:dashboard")).content.decode()
    login(client, org["sales1"])
    assert client.get(reverse("reports:dashboard")).status_code == 403
    assert client.get(reverse("reports:panel", args=["channel"])).status_code == 403


def test_channel_costs_page_for_admins(client, org):
    login(client, org["admin"])
    month = TODAY.strftime("%Y-%m")
    r = client.post(
        reverse("reports:channel_costs"), {"month": month, "cost-douyin": "0.5万", "cost-agent": "很多"}
    )
    assert "请填写金额" in r.content.decode() and 'value="很多"' in r.content.decode()
    r = client.post(reverse("reports:channel_costs"), {"month": month, "cost-douyin": "0.5万"})
    assert r.status_code == 302
    assert ChannelCost.objects.get(channel="douyin").amount == Decimal("5000.00")
    login(client, org["manager1"])
    assert client.get(reverse("reports:channel_costs")).status_code == 403


def test_facts_refresh_of_recent_days_keeps_older_ones(org, business):
    from loancrm.reports.models import DailyFact

    before = DailyFact.objects.count()
    facts.facts_refresh(days=1)
    assert DailyFact.objects.count() == before
    assert (
        DailyFact.objects.filter(kind="lead").aggregate(
            n=__import__("django.db.models", fromlist=["Sum"]).Sum("count")
        )["n"]
        == 6
    )


def test_workbench_shows_own_work_and_the_teams(client, org, business):
    from loancrm.intake.models import ApplicationTask
    from loancrm.notifications.services import todo_create

    todo_create(user=org["sales1"], title="回访 测1", url="/customers/")
    login(client, org["sales1"])
    work = client.get("/").context["stats"]["work"]
    assert work["tasks"] == ApplicationTask.objects.filter(assignee=org["sales1"], status="open").count()
    assert work["reminders"] == 1 and any(i["title"] == "回访 测1" for i in work["items"])
    assert work["team"] is None
    login(client, org["manager1"])
    page = client.get("/")
    team = page.context["stats"]["work"]["team"]
    assert (
        team["open"]
        == LoanApplication.objects.filter(
            status="in_progress", department__path__startswith=org["manager1"].department.path
        ).count()
    )
    assert 'data-testid="team-work"' in page.content.decode()


def test_p90_from_the_histogram_lies_in_the_right_hour_bin():
    from loancrm.reports.models import HOUR_BINS

    # 100 values: 89 under 15 minutes, 11 between 24 and 36 hours → P90 falls in the 24–36 h bin.
    bins = [0] * (len(HOUR_BINS) + 1)
    bins[0], bins[HOUR_BINS.index(36)] = 89, 11
    p90 = panels._p90_from_bins(bins)
    assert 24 <= p90 <= 36
    assert panels._p90_from_bins([0] * 16) is None


def test_a_saved_report_is_emailed_by_a_rule_in_each_recipients_scope(org, business, settings, tmp_path):
    from python_calamine import CalamineWorkbook

    from loancrm.notifications.models import Delivery
    from loancrm.reports.services import saved_report_save
    from loancrm.rules.services import rule_save, rules_run

    settings.PRIVATE_FILES_DIR = tmp_path
    report = saved_report_save(by=org["manager1"], name="抖音日报", filters={"channel": "douyin"})
    org["manager1"].email = "m1@example.com"
    org["manager1"].save()
    rule_save(
        by=org["admin"], rule=None,
        data={
            "name": "抖音日报邮件", "entity": "system", "trigger": "schedule", "frequency": "daily",
            "at_time": __import__("datetime").time(7, 0), "conditions": {}, "occurrence": "daily",
            "actions": [{"type": "report", "to": ["user:manager1"], "period": "weekly", "saved_report": str(report.pk)}],
        },
    )  # fmt: skip
    summary = rules_run(now=timezone.now().replace(hour=23, minute=0), source="test")
    assert not summary["errors"], summary
    mail = Delivery.objects.get(rule__name="抖音日报邮件")
    assert mail.user == org["manager1"] and mail.attachment_name.startswith("抖音日报")
    book = CalamineWorkbook.from_path(str(tmp_path / mail.attachment))
    channel_rows = book.get_sheet_by_name("渠道分析").to_python()[1:]
    assert [r[0] for r in channel_rows] in ([], ["抖音"])  # only the saved channel, in manager1's scope
