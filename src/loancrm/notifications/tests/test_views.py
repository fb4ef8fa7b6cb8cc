"""The notification pages: the bell on every page, the list, opening one, read-all, the delivery log
with its filters and the resend button, and ticking a to-do off on the to-do page."""

import re

import pytest

from loancrm.audit.models import AuditEntry
from loancrm.conftest import login
from loancrm.notifications import services
from loancrm.notifications.models import Delivery, DeliveryStatus, Notification, Todo

pytestmark = pytest.mark.django_db


def bell_count(html: str) -> int | None:
    m = re.search(r'data-testid="bell-count">\s*(\d+)\s*<', html)
    return int(m.group(1)) if m else None


@pytest.fixture
def notes(users):
    s1 = users["sales1"]
    out = [
        services.notification_create(user=s1, title=f"客户回访提醒{i}", url="/customers/") for i in range(3)
    ]
    services.notification_create(user=users["sales2"], title="别人的通知")
    return out


@pytest.mark.parametrize("url", ["/", "/customers/", "/intake/todo/", "/notifications/"])
def test_bell_shows_unread_count_on_any_page(client, users, notes, url):
    login(client, users["sales1"])
    resp = client.get(url)
    assert resp.status_code == 200
    assert bell_count(resp.content.decode()) == 3


def test_bell_hides_the_count_when_all_read(client, users, notes):
    services.notifications_mark_read(by=users["sales1"])
    login(client, users["sales1"])
    html = client.get("/customers/").content.decode()
    assert 'data-testid="bell"' in html and bell_count(html) is None


def test_bell_fragment(client, users, notes):
    login(client, users["sales2"])
    resp = client.get("/notifications/bell/")
    assert resp.status_code == 200 and bell_count(resp.content.decode()) == 1
    client.logout()
    assert client.get("/notifications/bell/").status_code == 302  # to the login page


def test_list_shows_own_only(client, users, notes):
    login(client, users["sales1"])
    html = client.get("/notifications/").content.decode()
    assert "客户回访提醒0" in html and "客户回访提醒2" in html
    assert "别人的通知" not in html
    services.notifications_mark_read(by=users["sales1"], ids=[notes[0].pk])
    html = client.get("/notifications/?unread=1").content.decode()
    assert "客户回访提醒0" not in html and "客户回访提醒1" in html


def test_open_marks_read_and_redirects(client, users, notes):
    login(client, users["sales1"])
    resp = client.get(f"/notifications/{notes[0].pk}/")
    assert resp.status_code == 302 and resp["Location"] == "/customers/"
    assert Notification.objects.get(pk=notes[0].pk).read_at is not None
    assert Notification.objects.get(pk=notes[1].pk).read_at is None


def test_open_someone_elses_is_404(client, users, notes):
    other = Notification.objects.get(user=users["sales2"])
    login(client, users["sales1"])
    assert client.get(f"/notifications/{other.pk}/").status_code == 404
    assert Notification.objects.get(pk=other.pk).read_at is None


@pytest.mark.parametrize("url", ["https://evil.example/phish", "//evil.example/", ""])
def test_open_never_leaves_the_site(client, users, url):
    n = services.notification_create(user=users["sales1"], title="t", url=url)
    login(client, users["sales1"])
    resp = client.get(f"/notifications/{n.pk}/")
    assert resp.status_code == 302 and resp["Location"] == "/notifications/"


def test_read_all(client, users, notes):
    login(client, users["sales1"])
    assert client.get("/notifications/read-all/").status_code == 405
    resp = client.post("/notifications/read-all/", follow=True)
    assert resp.redirect_chain[-1][0] == "/notifications/"
    assert "已将 3 条通知标为已读" in resp.content.decode()
    assert not Notification.objects.filter(user=users["sales1"], read_at__isnull=True).exists()
    assert Notification.objects.filter(user=users["sales2"], read_at__isnull=True).count() == 1
    assert bell_count(resp.content.decode()) is None


# --- the delivery log -----------------------------------------------------------------------------------


@pytest.fixture
def rule(users):
    from loancrm.rules.models import Rule

    return Rule.objects.create(code="lead-followup", name="线索跟进", entity="customer", actions=[])


@pytest.fixture
def failed(rule):
    return Delivery.objects.create(
        channel="sms",
        audience=Delivery.Audience.STAFF,
        recipient="13812345678",
        recipient_display="138****5678",
        rule=rule,
        source=rule.code,
        body="失败的短信正文",
        status=DeliveryStatus.FAILED,
        attempts=5,
        last_error="isv.BUSINESS_LIMIT_CONTROL",
    )


@pytest.fixture
def sent():
    return Delivery.objects.create(
        channel="email",
        audience=Delivery.Audience.STAFF,
        recipient="manager1@example.cn",
        recipient_display="ma***@example.cn",
        source="report",
        subject="日报",
        body="已发送的邮件正文",
        status=DeliveryStatus.SENT,
        attempts=1,
    )


def test_deliveries_page_403_for_sales(client, users, failed):
    login(client, users["sales1"])
    assert client.get("/notifications/deliveries/").status_code == 403
    assert client.post(f"/notifications/deliveries/{failed.pk}/retry/").status_code == 403
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.FAILED


def test_deliveries_page_for_admin_with_filters(client, users, rule, failed, sent):
    login(client, users["admin"])
    html = client.get("/notifications/deliveries/").content.decode()
    assert "失败的短信正文" in html and "已发送的邮件正文" in html
    assert "13812345678" not in html and "138****5678" in html
    for query, shown, hidden in [
        ("status=failed", "失败的短信正文", "已发送的邮件正文"),
        ("status=sent", "已发送的邮件正文", "失败的短信正文"),
        ("channel=email", "已发送的邮件正文", "失败的短信正文"),
        (f"rule={rule.pk}", "失败的短信正文", "已发送的邮件正文"),
        (f"rule={rule.code}", "失败的短信正文", "已发送的邮件正文"),
    ]:
        resp = client.get(f"/notifications/deliveries/?{query}")
        assert resp.status_code == 200, query
        html = resp.content.decode()
        assert shown in html and hidden not in html, query
    # The retry button is only on the failed row.
    html = client.get("/notifications/deliveries/").content.decode()
    assert f"/notifications/deliveries/{failed.pk}/retry/" in html
    assert f"/notifications/deliveries/{sent.pk}/retry/" not in html


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "no such rule"])
def test_deliveries_page_odd_rule_filter_shows_nothing(client, users, failed, value):
    login(client, users["admin"])
    resp = client.get("/notifications/deliveries/", {"rule": value})
    assert resp.status_code == 200
    assert "失败的短信正文" not in resp.content.decode()


def test_retry_button(client, users, failed, django_capture_on_commit_callbacks):
    login(client, users["admin"])
    with django_capture_on_commit_callbacks() as callbacks:
        resp = client.post(
            f"/notifications/deliveries/{failed.pk}/retry/",
            {"next": "/notifications/deliveries/?status=failed"},
        )
    assert resp.status_code == 302 and resp["Location"] == "/notifications/deliveries/?status=failed"
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.PENDING and failed.attempts == 0
    assert AuditEntry.objects.filter(action="delivery.retry", actor=users["admin"]).count() == 1
    # A second press: it is no longer failed, so nothing is queued and the page says why.
    resp = client.post(f"/notifications/deliveries/{failed.pk}/retry/", follow=True)
    assert "只有发送失败的消息可以重发" in resp.content.decode()
    assert AuditEntry.objects.filter(action="delivery.retry").count() == 1


def test_retry_never_redirects_off_site(client, users, failed):
    login(client, users["admin"])
    resp = client.post(f"/notifications/deliveries/{failed.pk}/retry/", {"next": "https://evil.example/"})
    assert resp.status_code == 302 and resp["Location"] == "/notifications/deliveries/"


def test_retry_needs_post(client, users, failed):
    login(client, users["admin"])
    assert client.get(f"/notifications/deliveries/{failed.pk}/retry/").status_code == 405


# --- to-dos on the to-do page ---------------------------------------------------------------------------


def test_todo_done_from_the_todo_page(client, users):
    todo = services.todo_create(user=users["sales1"], title="电话回访王先生", url="/customers/")
    login(client, users["sales1"])
    html = client.get("/intake/todo/").content.decode()
    assert "电话回访王先生" in html and 'data-testid="todo-done"' in html
    assert f"/notifications/todos/{todo.pk}/done/" in html

    resp = client.post(f"/notifications/todos/{todo.pk}/done/", {"next": "/intake/todo/"})
    assert resp.status_code == 302 and resp["Location"] == "/intake/todo/"
    todo.refresh_from_db()
    assert todo.status == Todo.Status.DONE and todo.done_at is not None
    assert "电话回访王先生" not in client.get("/intake/todo/").content.decode()


def test_todo_done_someone_elses_is_404(client, users):
    todo = services.todo_create(user=users["sales2"], title="别人的待办")
    login(client, users["sales1"])
    assert client.post(f"/notifications/todos/{todo.pk}/done/").status_code == 404
    todo.refresh_from_db()
    assert todo.status == Todo.Status.OPEN


def test_todo_done_never_redirects_off_site(client, users):
    todo = services.todo_create(user=users["sales1"], title="t")
    login(client, users["sales1"])
    resp = client.post(f"/notifications/todos/{todo.pk}/done/", {"next": "https://evil.example/"})
    assert resp.status_code == 302 and resp["Location"] == "/intake/todo/"
