"""The rule engine with the default rules: each fires on the right records at the right time, once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from loancrm.audit.models import AuditEntry
from loancrm.customers import services as customer_services
from loancrm.customers.models import Customer
from loancrm.intake.models import LoanApplication
from loancrm.loans.models import CollectionTask, RepaymentInstallment
from loancrm.notifications.models import Delivery, DeliveryStatus, Notification, Todo
from loancrm.rules import services
from loancrm.rules.models import Rule, RuleFire, RuleRun

from .conftest import local_at, walk_to


def run(now, *codes):
    return services.rules_run(now=now, codes=list(codes) or None, source="test")


def new_customer(org, name="新线索客户", **data):
    return customer_services.customer_create(
        by=org["sales1"], data={"name": name, "phone": "13995001234", **data}
    )


def test_defaults_are_installed_and_on(db):
    codes = set(Rule.objects.filter(is_active=True, is_default=True).values_list("code", flat=True))
    assert {
        "lead_not_followed_2h", "application_stalled_24h", "birthday_eve", "repayment_due_7_3_0",
        "post_loan_visit_1m", "materials_missing_remind", "overdue_follow_up", "report_daily", "report_weekly",
    } <= codes  # fmt: skip


# --- 2 h follow-up ------------------------------------------------------------------------------------


def test_lead_not_followed_within_2_hours(org, customers):
    lead = new_customer(org)
    followed = new_customer(org, name="已跟进客户", phone="13995005678")
    customer_services.follow_up_create(
        by=org["sales1"], customer=followed, data={"way": "电话", "content": "已联系"}
    )

    early = run(lead.created_at + timedelta(minutes=119), "lead_not_followed_2h")
    assert not Todo.objects.filter(customer=lead).exists(), early

    summary = run(lead.created_at + timedelta(hours=2, minutes=1), "lead_not_followed_2h")
    assert summary["fired"] >= 1
    todo = Todo.objects.get(customer=lead)
    assert todo.user == org["sales1"] and lead.name in todo.title and todo.due_at is not None
    told = set(
        Notification.objects.filter(rule__code="lead_not_followed_2h", title__contains=lead.name).values_list(
            "user__username", flat=True
        )
    )
    assert told == {"sales1", "manager1"}  # the salesperson and his 主管
    assert not Todo.objects.filter(customer=followed).exists()

    again = run(lead.created_at + timedelta(hours=2, minutes=1), "lead_not_followed_2h")
    assert again["fired"] == 0
    assert again["skipped_already_done"] == summary["fired"] + summary["skipped_already_done"]
    run(lead.created_at + timedelta(hours=5), "lead_not_followed_2h")
    assert Todo.objects.filter(customer=lead).count() == 1


# --- > 24 h in a node -------------------------------------------------------------------------------


def test_application_stalled_over_24h_alerts_handler_and_manager(org, application):
    entered = application.node_entered_at
    assert run(entered + timedelta(hours=23), "application_stalled_24h")["fired"] == 0
    summary = run(entered + timedelta(hours=25), "application_stalled_24h")
    assert summary["fired"] == 1
    told = set(
        Notification.objects.filter(rule__code="application_stalled_24h").values_list(
            "user__username", flat=True
        )
    )
    assert told == {"sales1", "manager1"}
    n = Notification.objects.filter(user__username="sales1").latest("id")
    assert application.application_no in n.title and "25" in n.title
    assert run(entered + timedelta(hours=30), "application_stalled_24h")["fired"] == 0
    # The next node is a new visit: stalled there too → alerted again.
    app = walk_to(LoanApplication.objects.get(pk=application.pk), "materials")
    assert run(app.node_entered_at + timedelta(hours=25), "application_stalled_24h")["fired"] == 1


# --- birthday eve ---------------------------------------------------------------------------------------


def test_birthday_eve_reminds_salesperson_from_9am(org, customer):
    day = timezone.localdate() + timedelta(days=10)
    tomorrow = day + timedelta(days=1)
    Customer.objects.filter(pk=customer.pk).update(birth_date=tomorrow.replace(year=1990))
    assert run(local_at(day, 8, 59), "birthday_eve")["fired"] == 0  # before the rule's time
    summary = run(local_at(day, 9, 5), "birthday_eve")
    assert summary["rules"]["birthday_eve"]["fired"] >= 1
    n = Notification.objects.get(rule__code="birthday_eve", user=org["sales1"], title__contains=customer.name)
    assert "生日快乐" in n.body
    assert run(local_at(day, 15, 0), "birthday_eve")["fired"] == 0  # later scans that day: done


def test_feb_29_birthdays_are_remembered_on_feb_28(org, customer):
    from datetime import date

    Customer.objects.filter(pk=customer.pk).update(birth_date=date(1988, 2, 29))
    run(local_at(date(2027, 2, 27), 9, 30), "birthday_eve")  # 2027 is not a leap year
    assert Notification.objects.filter(rule__code="birthday_eve", title__contains=customer.name).exists()


# --- repayment due 7/3/0 ----------------------------------------------------------------------------------


def test_repayment_reminders_7_3_and_0_days_before(org, make_loan, customer):
    loan = make_loan(0)
    first = loan.installments.order_by("period").first()
    for days, expect in [(8, 0), (7, 1), (5, 0), (3, 1), (1, 0), (0, 1)]:
        day = first.due_date - timedelta(days=days)
        before = Delivery.objects.filter(rule__code="repayment_due_7_3_0", customer=customer).count()
        run(local_at(day, 9, 10), "repayment_due_7_3_0")
        made = Delivery.objects.filter(rule__code="repayment_due_7_3_0", customer=customer).count() - before
        assert made == 2 * expect, (days, made)  # one SMS and one e-mail
    sms = Delivery.objects.filter(rule__code="repayment_due_7_3_0", channel="sms").order_by("id")
    assert [d.status for d in sms] == ["pending"] * 3
    assert "还有 7 天" in sms[0].body and "（今天）" in sms[2].body
    assert sms[0].recipient == customer.phone and sms[0].recipient_display != customer.phone
    assert Notification.objects.filter(rule__code="repayment_due_7_3_0", user=org["sales1"]).count() == 3


def test_a_customer_message_due_at_22_waits_until_8(org, make_loan, customer):
    from loancrm.notifications.services import deliveries_send_due

    loan = make_loan(0)
    first = loan.installments.order_by("period").first()
    day = first.due_date - timedelta(days=3)
    run(local_at(day, 22, 0), "repayment_due_7_3_0")
    sms = Delivery.objects.get(rule__code="repayment_due_7_3_0", channel="sms")
    assert timezone.localtime(sms.not_before) == local_at(day + timedelta(days=1), 8, 0)
    # The staff notice is not held back.
    assert Notification.objects.filter(rule__code="repayment_due_7_3_0").exists()
    deliveries_send_due(now=local_at(day, 23, 30))
    sms.refresh_from_db()
    assert sms.status == DeliveryStatus.PENDING and sms.attempts == 0
    deliveries_send_due(now=local_at(day + timedelta(days=1), 8, 1))
    sms.refresh_from_db()
    assert sms.status == DeliveryStatus.SENT


def test_an_opted_out_customer_gets_no_message(org, make_loan, customer, tmp_path, settings):
    from loancrm.notifications.services import deliveries_send_due

    settings.LOANCRM_SMS = {**settings.LOANCRM_SMS, "backend": "dev", "dev_dir": tmp_path}
    Customer.objects.filter(pk=customer.pk).update(message_opt_out=True)
    loan = make_loan(0)
    first = loan.installments.order_by("period").first()
    run(local_at(first.due_date, 9, 30), "repayment_due_7_3_0")
    rows = Delivery.objects.filter(rule__code="repayment_due_7_3_0", customer=customer)
    assert {d.status for d in rows} == {DeliveryStatus.SUPPRESSED}
    deliveries_send_due(now=local_at(first.due_date, 12, 0))
    outbox = tmp_path / "outbox.jsonl"
    assert "还款" not in (outbox.read_text() if outbox.exists() else "")  # (its 受理 notice went before)
    # The salesperson still hears about it.
    assert Notification.objects.filter(rule__code="repayment_due_7_3_0", user=org["sales1"]).exists()


# --- one month after disbursement ---------------------------------------------------------------------------


def test_post_loan_visit_one_month_after_disbursement(org, make_loan):
    loan = make_loan(31)
    summary = run(local_at(timezone.localdate(), 9, 30), "post_loan_visit_1m")
    assert summary["rules"]["post_loan_visit_1m"]["fired"] == 1
    todo = Todo.objects.get(rule__code="post_loan_visit_1m")
    assert todo.user == loan.owner and loan.loan_no in todo.title and todo.url.endswith(f"/loans/{loan.pk}/")
    assert run(local_at(timezone.localdate() + timedelta(days=1), 9, 30), "post_loan_visit_1m")["fired"] == 0


def test_no_post_loan_visit_before_30_days(org, make_loan):
    make_loan(20)
    assert run(local_at(timezone.localdate(), 9, 30), "post_loan_visit_1m")["fired"] == 0


# --- missing materials every 3 days -----------------------------------------------------------------------------


def test_missing_materials_reminds_the_customer_every_3_days(org, application, customer):
    app = walk_to(application, "materials")
    start = timezone.localtime(app.node_entered_at).date()
    sent_on = []
    for offset in range(0, 10):
        day = start + timedelta(days=offset)
        if run(local_at(day, 10, 30), "materials_missing_remind")["fired"]:
            sent_on.append(offset)
    assert sent_on and sent_on[0] in (1, 2)  # not on the day it entered the node, but a day after
    assert all(b - a == 3 for a, b in zip(sent_on, sent_on[1:], strict=False)), sent_on
    assert len(sent_on) == 3
    sms = Delivery.objects.filter(rule__code="materials_missing_remind").first()
    assert sms.customer == customer and "还缺少" in sms.body and "身份证" in sms.body


# --- overdue follow-up -------------------------------------------------------------------------------------------


def test_collection_task_due_today_becomes_a_todo(org, make_loan):
    loan = make_loan(0)
    task = CollectionTask.objects.create(
        loan=loan, assignee=org["sales1"], bucket="M1", next_action_on=timezone.localdate()
    )
    run(local_at(timezone.localdate(), 9, 0), "overdue_follow_up")
    assert Todo.objects.filter(rule__code="overdue_follow_up", user=org["sales1"]).count() == 1
    run(local_at(timezone.localdate(), 15, 0), "overdue_follow_up")
    assert Todo.objects.filter(rule__code="overdue_follow_up").count() == 1  # once a day
    run(local_at(timezone.localdate() + timedelta(days=1), 9, 0), "overdue_follow_up")
    assert Todo.objects.filter(rule__code="overdue_follow_up").count() == 1  # still open: not stacked
    Todo.objects.filter(rule__code="overdue_follow_up").update(status="done")
    run(local_at(timezone.localdate() + timedelta(days=2), 9, 0), "overdue_follow_up")
    assert Todo.objects.filter(rule__code="overdue_follow_up", status="open").count() == 1
    task.status = CollectionTask.Status.CLOSED
    task.save()
    Todo.objects.filter(rule__code="overdue_follow_up").update(status="done")
    run(local_at(timezone.localdate() + timedelta(days=3), 9, 0), "overdue_follow_up")
    assert Todo.objects.filter(rule__code="overdue_follow_up", status="open").count() == 0


# --- scheduled reports ---------------------------------------------------------------------------------------------


def test_daily_report_goes_to_each_manager_with_their_scope(org, customers, settings, tmp_path):
    from python_calamine import CalamineWorkbook

    settings.PRIVATE_FILES_DIR = tmp_path
    org["manager1"].email = "manager1@example.com"
    org["manager1"].save()
    today = timezone.localdate()
    Customer.objects.update(created_at=local_at(today - timedelta(days=1), 11))
    assert run(local_at(today, 7, 59), "report_daily")["fired"] == 0
    assert run(local_at(today, 8, 5), "report_daily")["fired"] == 1
    assert run(local_at(today, 12, 0), "report_daily")["fired"] == 0
    mail = Delivery.objects.get(rule__code="report_daily")
    assert mail.channel == "email" and mail.user == org["manager1"] and mail.attachment_name.endswith(".xlsx")
    book = CalamineWorkbook.from_path(str(tmp_path / mail.attachment))
    rows = book.get_sheet_by_name("新增客户").to_python()[1:]
    in_scope = Customer.objects.filter(department__path__startswith=org["manager1"].department.path)
    assert len(rows) == in_scope.count() < Customer.objects.count()
    assert f"新增客户 {in_scope.count()} 位" in mail.body


# --- exactly once -----------------------------------------------------------------------------------------------------


def test_a_crash_inside_the_actions_leaves_nothing_and_the_next_scan_does_it(org, customers, monkeypatch):
    lead = new_customer(org)
    real = services.notify.notification_create
    calls = {"n": 0}

    def crash(**kw):
        calls["n"] += 1
        raise RuntimeError("worker killed")

    monkeypatch.setattr(services.notify, "notification_create", crash)
    failed = run(lead.created_at + timedelta(hours=3), "lead_not_followed_2h")
    assert any(e["object"] == str(lead.pk) and "worker killed" in e["error"] for e in failed["errors"])
    assert not RuleFire.objects.filter(object_id=str(lead.pk)).exists()
    assert not Todo.objects.filter(customer=lead).exists()  # the to-do was rolled back with it
    monkeypatch.setattr(services.notify, "notification_create", real)
    run(lead.created_at + timedelta(hours=3), "lead_not_followed_2h")
    assert Todo.objects.filter(customer=lead).count() == 1


def test_a_fire_already_claimed_by_another_worker_is_skipped(org, customers):
    """The unique (rule, record, occurrence) row is the lock: a second insert loses."""
    lead = new_customer(org)
    rule = Rule.objects.get(code="lead_not_followed_2h")
    RuleFire.objects.create(rule=rule, object_id=str(lead.pk), occurrence="1")
    summary = run(lead.created_at + timedelta(hours=3), "lead_not_followed_2h")
    assert summary["skipped_already_done"] >= 1
    assert not Todo.objects.filter(customer=lead).exists()


def test_each_run_is_logged(org):
    run(timezone.now())
    last = RuleRun.objects.latest("started_at")
    assert last.source == "test" and last.finished_at is not None


# --- rules made by admins ------------------------------------------------------------------------------------------


BIG = {
    "name": "大额客户通知主管",
    "entity": "customer",
    "trigger": "event",
    "events": ["created"],
    "conditions": {"op": "and", "items": [{"field": "expected_amount", "cmp": "gt", "value": "500000"}]},
    "actions": [
        {
            "type": "notify",
            "to": ["owner_manager"],
            "title": "大额客户 {{ customer_name }}：{{ expected_amount }} 元",
        }
    ],
    "occurrence": "per_event",
}


def test_an_event_rule_fires_on_the_next_matching_record(
    org, django_capture_on_commit_callbacks, huey_immediate
):
    services.rule_save(by=org["admin"], rule=None, data=BIG)
    with django_capture_on_commit_callbacks(execute=True):
        small = new_customer(org, name="小额客户", expected_amount="100000")
    with django_capture_on_commit_callbacks(execute=True):
        big = new_customer(org, name="大额客户", phone="13995009999", expected_amount="80万")
    n = Notification.objects.get(title__contains="大额客户")
    assert n.user == org["manager1"] and "800,000.00" in n.title
    assert not Notification.objects.filter(title__contains=small.name).exists()
    assert RuleFire.objects.filter(object_id=str(big.pk)).count() == 1


def test_rules_do_not_set_each_other_off_in_a_loop(
    org, customers, django_capture_on_commit_callbacks, huey_immediate
):
    services.rule_save(
        by=org["admin"], rule=None,
        data={
            "name": "新建即标记", "entity": "customer", "trigger": "event", "events": ["created", "changed"],
            "conditions": {"op": "and", "items": []},
            "actions": [{"type": "set_field", "field": "stage", "value": "contacted"}], "occurrence": "per_event",
        },
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        c = new_customer(org)
    c.refresh_from_db()
    assert c.stage == "contacted"
    assert RuleFire.objects.filter(object_id=str(c.pk)).count() == 1
    entry = AuditEntry.objects.filter(action="customer.update", object_id=str(c.pk)).latest("id")
    assert entry.actor_username.startswith("rule:") and entry.changes == {"stage": ["new", "contacted"]}


def test_assign_action_moves_pool_customers(org, customers):
    from loancrm.customers.models import CustomerTransfer

    pool = Customer.objects.create(
        name="公海客户", customer_no="KH-POOL-1", owner=None, department=org["sales1"].department
    )
    services.rule_save(
        by=org["admin"], rule=None,
        data={
            "name": "公海客户分给王丽娟", "entity": "customer", "trigger": "scan",
            "conditions": {"op": "and", "items": [{"field": "owner", "cmp": "empty"}]},
            "actions": [{"type": "assign", "assignee": "sales1"}], "occurrence": "once",
        },
    )  # fmt: skip
    run(timezone.now())
    pool.refresh_from_db()
    assert pool.owner == org["sales1"]
    assert CustomerTransfer.objects.filter(
        customer=pool, to_owner=org["sales1"], by__username="system"
    ).exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"entity": "nothing"}, "entity"),
        ({"trigger": "event", "events": []}, "events"),
        (
            {
                "conditions": {
                    "op": "and",
                    "items": [{"field": "expected_amount", "cmp": "gt", "value": "很多"}],
                }
            },
            "conditions",
        ),
        (
            {"conditions": {"op": "and", "items": [{"field": "nope", "cmp": "eq", "value": "1"}]}},
            "conditions",
        ),
        (
            {
                "conditions": {
                    "op": "and",
                    "items": [{"field": "created_at", "cmp": "older_than", "value": "两小时"}],
                }
            },
            "conditions",
        ),
        ({"actions": []}, "actions"),
        ({"actions": [{"type": "notify", "to": [], "title": "x"}]}, "actions"),
        ({"actions": [{"type": "sms", "to": ["customer"], "template": "no_such"}]}, "actions"),
        ({"actions": [{"type": "wecom", "body": "x", "webhook": "ftp://x"}]}, "actions"),
        ({"actions": [{"type": "notify", "to": ["owner"], "title": "{% if %}"}]}, "actions"),
        ({"trigger": "schedule", "at_time": None}, "at_time"),
        ({"occurrence": "per_visit"}, "occurrence"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(org, change, field):
    data = {**BIG, **change}
    with pytest.raises(ValidationError) as exc:
        services.rule_save(by=org["admin"], rule=None, data=data)
    assert field in exc.value.message_dict
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in exc.value.message_dict[field])
    assert not Rule.objects.filter(name=data["name"]).exists()


def test_only_rule_managers_save_rules(org):
    with pytest.raises(PermissionDenied):
        services.rule_save(by=org["manager1"], rule=None, data=BIG)


def test_preview_lists_matches_without_acting(org, customers):
    rule = services.rule_save(
        by=org["admin"], rule=None,
        data={**BIG, "trigger": "scan", "events": [], "occurrence": "once",
              "conditions": {"op": "and", "items": [{"field": "owner", "cmp": "eq", "value": "sales1"}]}},
    )  # fmt: skip
    result = services.rule_preview(by=org["admin"], rule=rule)
    assert result["total"] == Customer.objects.filter(owner=org["sales1"]).count() > 0
    assert result["done"] == 0
    assert not Notification.objects.exists() and not RuleFire.objects.exists()
    with pytest.raises(PermissionDenied):
        services.rule_preview(by=org["sales1"], rule=rule)


def test_recipients_by_role_are_limited_to_those_who_see_the_record(org, customers):
    c = Customer.objects.filter(owner=org["sales3"]).first()  # 银川二部: manager1 (银川一部) may not see it
    from loancrm.rules.entities import CUSTOMER

    managers = services.recipients("role:manager", CUSTOMER, c)
    assert org["manager1"] not in managers
    mine = Customer.objects.filter(owner=org["sales1"]).first()
    assert org["manager1"] in services.recipients("role:manager", CUSTOMER, mine)


def test_scan_uses_one_query_per_chunk_of_records(org, customers, django_assert_max_num_queries):
    """Conditions compile to SQL: 60 customers match, yet the candidate read is a couple of queries."""
    rule = Rule(entity="customer", conditions={"op": "and", "items": [{"field": "name", "cmp": "not_empty"}]})
    from loancrm.rules.entities import CUSTOMER

    with django_assert_max_num_queries(3):
        chunks = list(services._candidates(rule, CUSTOMER, timezone.now()))
    assert sum(len(c) for c in chunks) == Customer.objects.count()
    assert connection.vendor in ("sqlite", "postgresql")


def test_installment_amount_in_message_is_what_is_left(org, make_loan):
    from loancrm.rules.entities import INSTALLMENT

    loan = make_loan(0)
    inst = RepaymentInstallment.objects.filter(loan=loan).order_by("period").first()
    ctx = INSTALLMENT.context(inst, timezone.now())
    assert Decimal(ctx["amount"].replace(",", "")) == inst.payment_due


def test_the_worker_runs_the_scan_every_5_minutes_and_the_sender_every_minute():
    from datetime import datetime

    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    autodiscover_modules("tasks")  # what `loancrm worker` (run_huey) does
    periodic = {t.__name__: t() for t in HUEY._registry._periodic_tasks}
    assert {"rules_scan", "send_due", "assess_loans"} <= set(periodic)
    minutes = [datetime(2026, 12, 1, 9, m) for m in range(10)]
    assert [m.minute for m in minutes if periodic["rules_scan"].validate_datetime(m)] == [0, 5]
    assert all(periodic["send_due"].validate_datetime(m) for m in minutes)


def test_recipients_never_include_someone_who_cannot_see_the_record(org, customers):
    from loancrm.rules.entities import CUSTOMER

    c = Customer.objects.filter(owner=org["sales1"]).first()
    assert services.recipients("user:sales3", CUSTOMER, c) == []  # 银川二部 does not see 银川一部's customer
    assert services.recipients("user:manager1", CUSTOMER, c) == [org["manager1"]]


def test_stalled_rule_covers_contract_and_disbursement_nodes(org, application):
    app = walk_to(application, "contract")
    assert app.status == "approved"
    summary = run(app.node_entered_at + timedelta(hours=25), "application_stalled_24h")
    assert summary["fired"] == 1
    assert Notification.objects.filter(rule__code="application_stalled_24h", user=org["manager1"]).exists()


def test_a_template_that_includes_another_is_refused_and_never_stops_a_scan(org, customers):
    with pytest.raises(ValidationError, match="模板写法有误"):
        services.rule_save(
            by=org["admin"],
            rule=None,
            data={
                **BIG,
                "actions": [{"type": "notify", "to": ["owner"], "title": "{% include 'base.html' %}"}],
            },
        )
    lead = new_customer(org)
    bad = Rule.objects.create(
        code="bad", name="坏规则", entity="customer", trigger="scan", occurrence="once",
        conditions={"op": "and", "items": []}, actions=[{"type": "notify", "to": ["owner"], "template": "gone"}],
    )  # fmt: skip
    summary = run(lead.created_at + timedelta(hours=3), "bad", "lead_not_followed_2h")
    assert summary["errors"] and summary["rules"]["lead_not_followed_2h"]["fired"] >= 1
    assert not RuleFire.objects.filter(rule=bad).exists()


def test_opting_out_after_queueing_and_retries_in_quiet_hours_send_nothing(org, make_loan, customer):
    from loancrm.notifications.services import deliveries_send_due, delivery_send

    loan = make_loan(0)
    first = loan.installments.order_by("period").first()
    day = first.due_date - timedelta(days=3)
    run(local_at(day, 22, 0), "repayment_due_7_3_0")
    sms = Delivery.objects.get(rule__code="repayment_due_7_3_0", channel="sms")
    customer_services.customer_set_message_opt_out(by=org["sales1"], customer=customer, opt_out=True)
    sms.refresh_from_db()
    assert sms.status == DeliveryStatus.SUPPRESSED
    # A message let through to the queue at night (a resend, a put-back) is held again until 08:00.
    Delivery.objects.filter(pk=sms.pk).update(status=DeliveryStatus.PENDING, not_before=local_at(day, 21, 0))
    Customer.objects.filter(pk=customer.pk).update(message_opt_out=False)
    assert delivery_send(sms.pk, now=local_at(day, 23, 0)) == "held"
    sms.refresh_from_db()
    assert sms.status == DeliveryStatus.PENDING and timezone.localtime(sms.not_before) == local_at(
        day + timedelta(days=1), 8, 0
    )
    assert sms.attempts == 0
    assert deliveries_send_due(now=local_at(day + timedelta(days=1), 8, 0)).get("sent", 0) >= 1
