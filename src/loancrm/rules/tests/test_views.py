"""The rules pages as an admin uses them: list, create/edit with errors kept, the 测试 button, on/off,
templates; and the acceptance case of a rule made in the UI firing on the next matching record."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from loancrm.audit.models import AuditEntry
from loancrm.conftest import login
from loancrm.customers import services as customer_services
from loancrm.notifications.models import MessageTemplate, Notification
from loancrm.rules.models import Rule, RuleFire


def big_amount_form(**extra) -> dict:
    data = {
        "name": "期望金额超过50万通知主管",
        "description": "",
        "is_active": "on",
        "entity": "customer",
        "trigger": "event",
        "events": ["created"],
        "frequency": "daily",
        "match": "and",
        "occurrence": "per_event",
        "c0-field": "expected_amount",
        "c0-cmp": "gt",
        "c0-value": "500000",
        "a0-type": "notify",
        "a0-to": ["owner_manager"],
        "a0-title": "大额客户 {{ customer_name }}",
        "a0-body": "期望金额 {{ expected_amount }} 元，业务员 {{ owner_name }}",
    }
    data.update(extra)
    return data


def test_rules_page_lists_the_defaults(client, users):
    login(client, users["admin"])
    html = client.get(reverse("rules:list")).content.decode()
    for name in (
        "新线索 2 小时未跟进",
        "审批节点停留超过 24 小时",
        "客户生日前一天提醒",
        "还款日前 7、3、0 天提醒",
        "放款一个月贷后回访",
    ):
        assert name in html
    assert "业务员的主管" in html  # actions read as people say them


@pytest.mark.parametrize("who", ["sales1", "manager1", "auditor1"])
def test_rules_pages_are_for_rule_managers_only(client, users, who):
    login(client, users[who])
    for url in (
        reverse("rules:list"),
        reverse("rules:create"),
        reverse("rules:templates"),
        reverse("notifications:deliveries"),
    ):
        assert client.get(url).status_code == 403


def test_a_rule_made_in_the_ui_fires_on_the_next_matching_record(
    client, users, customers, django_capture_on_commit_callbacks, huey_immediate
):
    """Acceptance 4: 期望金额 > 500,000 → notify 主管."""
    login(client, users["admin"])
    response = client.post(reverse("rules:create"), big_amount_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(name="期望金额超过50万通知主管")
    assert rule.conditions == {
        "op": "and",
        "items": [{"field": "expected_amount", "cmp": "gt", "value": "500000"}],
    }
    assert AuditEntry.objects.filter(action="rule.update", object_id=str(rule.pk)).exists()

    with django_capture_on_commit_callbacks(execute=True):
        customer_services.customer_create(
            by=users["sales1"], data={"name": "刘大户", "phone": "13995101234", "expected_amount": "120万"}
        )
    note = Notification.objects.get(rule=rule)
    assert note.user == users["manager1"] and note.title == "大额客户 刘大户" and "1,200,000.00" in note.body
    with django_capture_on_commit_callbacks(execute=True):
        customer_services.customer_create(
            by=users["sales1"], data={"name": "小额", "phone": "13995105678", "expected_amount": "20万"}
        )
    assert Notification.objects.filter(rule=rule).count() == 1

    # The manager sees it under the bell.
    login(client, users["manager1"])
    page = client.get(reverse("notifications:list")).content.decode()
    assert "大额客户 刘大户" in page
    assert 'data-testid="bell-count">1<' in page.replace("\n", "")


def test_errors_name_the_problem_and_keep_what_was_typed(client, users):
    login(client, users["admin"])
    form = big_amount_form(**{"c0-value": "很多", "a1-type": "wecom", "a1-body": "x", "a1-webhook": "qyapi"})
    response = client.post(reverse("rules:create"), form)
    html = response.content.decode()
    assert response.status_code == 200
    assert "第 1 个条件（期望金额（元））：请输入数字" in html
    assert 'value="很多"' in html and 'value="qyapi"' in html and "期望金额超过50万通知主管" in html
    assert not Rule.objects.filter(name="期望金额超过50万通知主管").exists()


def test_the_test_button_shows_matches_without_acting(client, users, customers):
    login(client, users["admin"])
    form = big_amount_form(
        trigger="scan",
        events=[],
        occurrence="once",
        **{"c0-field": "owner", "c0-cmp": "eq", "c0-value": "sales2"},
    )
    response = client.post(reverse("rules:create"), {**form, "preview": "1"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    n = customers.filter(owner=users["sales2"]).count()
    assert f"现在符合条件的记录：{n} 条" in html and "没有执行任何动作" in html
    assert not Rule.objects.filter(name=form["name"]).exists()
    assert not Notification.objects.exists() and not RuleFire.objects.exists()
    bad = client.post(
        reverse("rules:create"), {**form, "c0-cmp": "older_than", "preview": "1"}, HTTP_HX_REQUEST="true"
    )
    assert "不能用" in bad.content.decode()


def test_edit_keeps_the_rule_and_toggle_switches_it(client, users):
    login(client, users["admin"])
    rule = Rule.objects.get(code="birthday_eve")
    page = client.get(reverse("rules:edit", args=[rule.pk])).content.decode()
    assert 'value="1"' in page and "anniversary_in_days" in page and 'value="09:00"' in page
    client.post(reverse("rules:toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.is_active is False
    client.post(reverse("rules:toggle", args=[rule.pk]))
    rule.refresh_from_db()
    assert rule.is_active is True


def test_editing_a_default_rule_through_the_form_round_trips(client, users):
    login(client, users["admin"])
    rule = Rule.objects.get(code="repayment_due_7_3_0")
    before = (rule.conditions, rule.actions, rule.at_time)
    form = {
        "name": rule.name, "description": rule.description, "is_active": "on", "entity": rule.entity,
        "trigger": rule.trigger, "frequency": rule.frequency, "at_time": "09:00", "match": "and",
        "occurrence": rule.occurrence,
    }  # fmt: skip
    for i, c in enumerate(rule.conditions["items"]):
        form |= {f"c{i}-field": c["field"], f"c{i}-cmp": c["cmp"], f"c{i}-value": c.get("value", "")}
    for i, a in enumerate(rule.actions):
        form |= {f"a{i}-type": a["type"], f"a{i}-to": a["to"], f"a{i}-template": a.get("template", "")}
    response = client.post(reverse("rules:edit", args=[rule.pk]), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    rule.refresh_from_db()
    assert (rule.conditions, rule.actions, rule.at_time) == before


def test_templates_edit_with_syntax_check(client, users):
    login(client, users["admin"])
    t = MessageTemplate.objects.get(code="repayment_due_sms")
    url = reverse("rules:template_edit", args=[t.pk])
    bad = client.post(
        url,
        {
            "code": t.code,
            "name": t.name,
            "channel": "sms",
            "subject": "",
            "body": "{% if %}",
            "provider_template": "",
        },
    )
    assert "模板写法有误" in bad.content.decode()
    ok = client.post(
        url,
        {
            "code": t.code,
            "name": t.name,
            "channel": "sms",
            "subject": "",
            "body": "【{{ org }}】请还款",
            "provider_template": "SMS_123",
        },
    )
    assert ok.status_code == 302
    t.refresh_from_db()
    assert t.provider_template == "SMS_123"


def test_cli_run_prints_a_json_summary(org, customers):
    out = StringIO()
    call_command("rules", "run", "--now", "2026-12-02T09:30", stdout=out)
    summary = json.loads(out.getvalue())
    assert {"fired", "skipped_already_done", "errors", "rules", "now"} <= set(summary)
    assert summary["now"].startswith("2026-12-02T09:30:00+08:00")
    again = StringIO()
    call_command("rules", "run", "--now", "2026-12-02T09:30", stdout=again)
    second = json.loads(again.getvalue())
    assert (
        second["fired"] == 0
        and second["skipped_already_done"] == summary["fired"] + summary["skipped_already_done"]
    )
    with pytest.raises(CommandError, match="not an ISO time"):
        call_command("rules", "run", "--now", "tomorrow")
    listing = StringIO()
    call_command("rules", "list", stdout=listing)
    assert "lead_not_followed_2h" in listing.getvalue()


def test_staff_record_a_customers_opt_out(client, users, customers):
    c = customers.filter(owner=users["sales1"]).first()
    login(client, users["sales1"])
    page = client.get(reverse("customers:detail", args=[c.pk])).content.decode()
    assert "客户要求不再接收通知短信/邮件" in page
    client.post(reverse("customers:opt_out", args=[c.pk]), {"opt_out": "1"})
    c.refresh_from_db()
    assert c.message_opt_out is True
    entry = AuditEntry.objects.filter(action="customer.update", object_id=str(c.pk)).latest("id")
    assert entry.changes == {"message_opt_out": [False, True]}
    assert "拒收通知短信/邮件" in client.get(reverse("customers:detail", args=[c.pk])).content.decode()
    other = customers.filter(owner=users["sales3"]).first()  # not sales1's: 404, nothing changes
    assert client.post(reverse("customers:opt_out", args=[other.pk]), {"opt_out": "1"}).status_code == 404
    other.refresh_from_db()
    assert other.message_opt_out is False


def test_requests_only_queue_messages_the_worker_sends_them(
    api_client, users, customers, monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    """A web request that sets off a customer notice (受理 SMS) stores a pending delivery; nothing is
    sent inside the request, by any channel."""
    from pathlib import Path

    from loancrm.core.demo.intake import ensure_products
    from loancrm.intake.services import ensure_default_workflow
    from loancrm.notifications import services as notify
    from loancrm.notifications.models import Delivery

    ensure_default_workflow()
    ensure_products()

    def no_sending(name):
        raise AssertionError(f"a request tried to send by {name}")

    monkeypatch.setattr(notify, "channel_for", no_sending)
    customer = customers.filter(owner=users["sales1"], customer_type="individual").first()
    api_client.force_authenticate(users["sales1"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/applications/",
            {"customer": customer.pk, "product": "xinyidai", "amount": "30000", "term_months": 12},
            format="json",
        )
    assert response.status_code == 201, response.content
    sms = Delivery.objects.get(source="notice:received")
    assert sms.status == "pending" and sms.customer == customer
    assert mailoutbox == []
    # And no module but the channels talks to Django's mail API.
    root = Path(__file__).resolve().parents[2]
    callers = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "tests" not in p.parts and ("EmailMessage" in p.read_text() or "send_mail" in p.read_text())
    ]
    assert callers == ["notifications/channels.py"]


def test_every_default_rule_passes_the_editors_check_and_reads_in_words(org):
    """Each preset rule saves back unchanged through rule_clean (choice values checked against their
    labels, the collection task's nested Status included), and the list reads its codes as labels."""
    from loancrm.rules import services as rule_services
    from loancrm.rules.conditions import describe
    from loancrm.rules.entities import ENTITIES

    for rule in Rule.objects.filter(is_default=True):
        data = {f: getattr(rule, f) for f in rule_services.RULE_FIELDS}
        clean = rule_services.rule_clean(data)
        assert clean["conditions"].get("items") == rule.conditions.get("items", []), rule.code
    overdue = Rule.objects.get(code="overdue_follow_up")
    assert describe(ENTITIES[overdue.entity], overdue.conditions).startswith("状态 等于 催收中 且 ")
