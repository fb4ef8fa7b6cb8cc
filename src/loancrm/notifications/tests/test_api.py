"""The notification and delivery-log API: own notifications only, filters checked (a bad one is a 400,
never ignored), the log for those who manage rules, recipients always masked."""

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from loancrm.audit.models import Action, AuditEntry
from loancrm.notifications import services
from loancrm.notifications.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


@pytest.fixture
def rule(users):
    from loancrm.rules.models import Rule

    return Rule.objects.create(code="overdue-remind", name="逾期提醒", entity="loan", actions=[])


@pytest.fixture
def notes(users, rule):
    s1, s2 = users["sales1"], users["sales2"]
    read = services.notification_create(user=s1, title="已读的通知", url="/customers/")
    services.notifications_mark_read(by=s1, ids=[read.pk])
    unread = services.notification_create(user=s1, title="未读的通知", rule=rule)
    other = services.notification_create(user=s2, title="别人的通知")
    return {"read": read, "unread": unread, "other": other}


def _ids(resp) -> set[int]:
    return {row["id"] for row in resp.json()["results"]}


def test_notifications_are_the_users_own(api_client, users, notes):
    token = Token.objects.create(user=users["sales1"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    resp = api_client.get("/api/v1/notifications/")
    assert resp.status_code == 200
    assert _ids(resp) == {notes["read"].pk, notes["unread"].pk}
    rows = {row["id"]: row for row in resp.json()["results"]}
    assert rows[notes["unread"].pk]["rule"] == "overdue-remind"
    assert rows[notes["unread"].pk]["is_read"] is False and rows[notes["unread"].pk]["read_at"] is None
    assert rows[notes["read"].pk]["is_read"] is True and rows[notes["read"].pk]["rule"] is None
    assert resp.json()["results"][0]["id"] == notes["unread"].pk  # newest first

    api_client.credentials()
    api_client.force_authenticate(users["sales2"])
    assert _ids(api_client.get("/api/v1/notifications/")) == {notes["other"].pk}


@pytest.mark.parametrize(("value", "expected"), [("true", {"unread"}), ("1", {"unread"}), ("false", {"read", "unread"}), ("0", {"read", "unread"})])  # fmt: skip
def test_notifications_unread_filter(api_client, users, notes, value, expected):
    api_client.force_authenticate(users["sales1"])
    resp = api_client.get("/api/v1/notifications/", {"unread": value})
    assert resp.status_code == 200
    assert _ids(resp) == {notes[k].pk for k in expected}


@pytest.mark.parametrize("value", ["maybe", "", "TRUE", "yes"])
def test_notifications_bad_unread_is_400(api_client, users, notes, value):
    api_client.force_authenticate(users["sales1"])
    resp = api_client.get("/api/v1/notifications/", {"unread": value})
    assert resp.status_code == 400
    assert "unread" in resp.json()


def test_notifications_anonymous_is_401(api_client):
    assert api_client.get("/api/v1/notifications/").status_code == 401
    assert api_client.get("/api/v1/deliveries/").status_code == 401


@pytest.fixture
def log(users, rule, customers):
    """An SMS to a customer (sent), an e-mail to staff (failed), a WeCom message (pending)."""
    customer = customers.order_by("id").first()
    sms = services.delivery_queue(
        channel="sms",
        audience=Delivery.Audience.CUSTOMER,
        recipient=PHONE,
        body="【贷款助手】您好",
        customer=customer,
        rule=rule,
        source=rule.code,
    )
    Delivery.objects.filter(pk=sms.pk).update(status=DeliveryStatus.SENT, sent_at=timezone.now())
    email = services.delivery_queue(
        channel="email",
        audience=Delivery.Audience.STAFF,
        recipient="manager1@example.cn",
        body="日报",
        subject="日报",
        user=users["manager1"],
        source="report",
    )
    Delivery.objects.filter(pk=email.pk).update(status=DeliveryStatus.FAILED, last_error="SMTP 550")
    wecom = services.delivery_queue(
        channel="wecom",
        audience=Delivery.Audience.GROUP,
        recipient="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-robot-key",
        body="**逾期** 3 笔",
        rule=rule,
        source=rule.code,
    )
    return {"sms": sms, "email": email, "wecom": wecom}


def test_deliveries_forbidden_without_rules_manage(api_client, users, log):
    for username in ["sales1", "manager1", "auditor1"]:
        api_client.force_authenticate(users[username])
        assert api_client.get("/api/v1/deliveries/").status_code == 403, username
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users["sales1"]).exists()


def test_deliveries_for_admin_with_filters(api_client, users, log, rule):
    api_client.force_authenticate(users["admin"])
    resp = api_client.get("/api/v1/deliveries/")
    assert resp.status_code == 200
    assert resp.json()["count"] == 3
    get = lambda **q: _ids(api_client.get("/api/v1/deliveries/", q))  # noqa: E731
    assert get(status="failed") == {log["email"].pk}
    assert get(status="sent") == {log["sms"].pk}
    assert get(status="suppressed") == set()
    assert get(rule=rule.code) == {log["sms"].pk, log["wecom"].pk}
    assert get(rule=str(rule.pk)) == {log["sms"].pk, log["wecom"].pk}
    assert get(rule="no-such-rule") == set()
    assert get(rule="99999999999999999999999") == set()  # past any id: nothing, not a 500
    assert get(channel="wecom") == {log["wecom"].pk}
    assert get(channel="email", status="failed") == {log["email"].pk}
    assert get(channel="sms", rule=rule.code, status="sent") == {log["sms"].pk}
    row = next(
        r for r in api_client.get("/api/v1/deliveries/").json()["results"] if r["id"] == log["email"].pk
    )
    assert row["status"] == "failed" and row["last_error"] == "SMTP 550" and row["rule"] is None


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "bogus"),
        ("status", ""),
        ("channel", "fax"),
        ("channel", "inapp"),  # no in-app message is a delivery (the schema does not offer it)
        ("rule", ""),
        ("rule", "a b"),
        ("rule", "规则"),
        ("rule", "²"),
    ],
)
def test_deliveries_bad_filter_is_400(api_client, users, log, param, value):
    api_client.force_authenticate(users["admin"])
    resp = api_client.get("/api/v1/deliveries/", {param: value})
    assert resp.status_code == 400
    assert param in resp.json()


def test_deliveries_recipients_are_masked(api_client, users, log):
    api_client.force_authenticate(users["admin"])
    resp = api_client.get("/api/v1/deliveries/")
    text = resp.content.decode()
    assert PHONE not in text and "secret-robot-key" not in text and "manager1@example.cn" not in text
    recipients = {r["id"]: r["recipient"] for r in resp.json()["results"]}
    assert recipients[log["sms"].pk] == "138****5678"
    assert recipients[log["email"].pk] == "ma***@example.cn"
    assert recipients[log["wecom"].pk] == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"


def test_link_tokens_in_message_bodies_are_cut_in_the_log(api_client, users):
    from loancrm.notifications.models import Delivery

    Delivery.objects.create(
        channel="sms", audience="customer", recipient="13995001234", recipient_display="139****1234",
        source="notice:materials", body="请上传：身份证。链接：http://127.0.0.1:8000/intake/u/SeCrEtToKeN123/",
    )  # fmt: skip
    api_client.force_authenticate(users["admin"])
    body = api_client.get("/api/v1/deliveries/").json()["results"][0]["body"]
    assert "SeCrEtToKeN123" not in body and "/intake/u/…/" in body
