"""Notification services: quiet hours, queueing (opt-out, missing contact), sending once with back-off
and a final failure, the minute tick, resending, to-dos, read marks, and intake notices following
their delivery."""

import threading
import time as time_module
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import override_settings
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from loancrm.audit.models import Action, AuditEntry
from loancrm.notifications import services
from loancrm.notifications.channels import SendError
from loancrm.notifications.models import Delivery, DeliveryStatus, Notification, Todo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def quiet(settings):
    settings.LOANCRM_QUIET_HOURS = "21:00-08:00"


class FakeChannel:
    """Stands in for every channel: records what it was given; `fail` is raised instead of sending."""

    def __init__(self, fail: BaseException | None = None, delay: float = 0):
        self.sent: list = []
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()

    def send(self, message) -> str:
        if self.delay:
            time_module.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append(message)
            return f"fake-{len(self.sent)}"


@pytest.fixture
def fake(monkeypatch):
    channel = FakeChannel()
    monkeypatch.setattr("loancrm.notifications.services.channel_for", lambda name: channel)
    return channel


def staff_delivery(**kw) -> Delivery:
    fields = {
        "channel": "sms",
        "audience": Delivery.Audience.STAFF,
        "recipient": "13812345678",
        "recipient_display": "138****5678",
        "source": "test",
        "body": "测试消息",
        "not_before": local(2026, 3, 10, 10, 0),
        "created_at": local(2026, 3, 10, 10, 0),
    }
    return Delivery.objects.create(**{**fields, **kw})


# --- quiet hours ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (local(2026, 3, 10, 22, 0), local(2026, 3, 11, 8, 0)),
        (local(2026, 3, 10, 21, 0), local(2026, 3, 11, 8, 0)),
        (local(2026, 3, 10, 23, 59, 59), local(2026, 3, 11, 8, 0)),
        (local(2026, 3, 10, 0, 0), local(2026, 3, 10, 8, 0)),
        (local(2026, 3, 10, 7, 59), local(2026, 3, 10, 8, 0)),
        (local(2026, 3, 10, 8, 0), None),
        (local(2026, 3, 10, 12, 0), None),
        (local(2026, 3, 10, 20, 59, 59), None),
        (local(2026, 12, 31, 22, 0), local(2027, 1, 1, 8, 0)),
        # An instant given in another zone is judged by the local clock (14:00 UTC is 22:00 here).
        (datetime(2026, 3, 10, 14, 0, tzinfo=UTC), local(2026, 3, 11, 8, 0)),
    ],
)
def test_quiet_until(quiet, now, until):
    assert services.quiet_until(now) == until


def test_quiet_until_non_wrapping_window(settings):
    settings.LOANCRM_QUIET_HOURS = "12:00-13:00"
    assert services.quiet_until(local(2026, 3, 10, 12, 0)) == local(2026, 3, 10, 13, 0)
    assert services.quiet_until(local(2026, 3, 10, 12, 30)) == local(2026, 3, 10, 13, 0)
    assert services.quiet_until(local(2026, 3, 10, 13, 0)) is None
    assert services.quiet_until(local(2026, 3, 10, 11, 59)) is None
    assert services.quiet_until(local(2026, 3, 10, 22, 0)) is None


@pytest.mark.parametrize("setting", ["x", "", "21:00", "21:00-08:00-09:00", "25:00-08:00", None])
def test_quiet_until_bad_setting_means_no_quiet_hours(settings, setting):
    settings.LOANCRM_QUIET_HOURS = setting
    assert services.quiet_until(local(2026, 3, 10, 22, 0)) is None


def _in_quiet(t: time) -> bool:
    return t >= time(21) or t < time(8)


# Asia/Shanghai has had no daylight saving since 1991, so every quiet night is 11 hours long.
@given(
    now=st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones())
)
def test_quiet_until_property(now):
    with override_settings(LOANCRM_QUIET_HOURS="21:00-08:00"):
        until = services.quiet_until(now)
    here = now.astimezone(SHANGHAI)
    if until is None:
        assert not _in_quiet(here.time())
    else:
        assert _in_quiet(here.time())
        assert now < until <= now + timedelta(hours=11)
        assert not _in_quiet(until.astimezone(SHANGHAI).time())
        assert until.astimezone(SHANGHAI).time() == time(8)


# --- queueing -------------------------------------------------------------------------------------------


@pytest.fixture
def customer(customers):
    """A demo customer with a phone number who takes messages."""
    return next(c for c in customers.order_by("id") if c.phone and not c.message_opt_out)


def queue_customer_sms(customer, now, **kw) -> Delivery:
    return services.delivery_queue(
        channel="sms",
        audience=Delivery.Audience.CUSTOMER,
        recipient=kw.pop("recipient", customer.phone),
        body="【贷款助手】您好",
        customer=customer,
        source="test",
        now=now,
        **kw,
    )


@pytest.mark.django_db
def test_customer_message_waits_out_the_quiet_hours(quiet, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        d = queue_customer_sms(customer, local(2026, 3, 10, 22, 0))
    assert d.status == DeliveryStatus.PENDING
    assert d.not_before == local(2026, 3, 11, 8, 0)
    assert callbacks == []  # the minute tick sends it in the morning, not a task now


@pytest.mark.django_db
def test_customer_message_by_day_is_sent_at_once(quiet, customer, django_capture_on_commit_callbacks):
    now = local(2026, 3, 10, 12, 0)
    with django_capture_on_commit_callbacks() as callbacks:
        d = queue_customer_sms(customer, now)
    assert d.status == DeliveryStatus.PENDING and d.not_before == now
    assert len(callbacks) == 1
    assert d.recipient_display != customer.phone and "****" in d.recipient_display


@pytest.mark.django_db
def test_opted_out_customer_gets_nothing(quiet, customer, django_capture_on_commit_callbacks):
    customer.message_opt_out = True
    customer.save()
    with django_capture_on_commit_callbacks() as callbacks:
        d = queue_customer_sms(customer, local(2026, 3, 10, 12, 0))
    assert d.status == DeliveryStatus.SUPPRESSED
    assert d.last_error == "客户已拒收通知"
    assert callbacks == []


@pytest.mark.django_db
@pytest.mark.parametrize(("channel", "error"), [("sms", "客户没有手机号码"), ("email", "客户没有邮箱")])
def test_customer_without_contact_fails(quiet, customer, channel, error, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        d = services.delivery_queue(
            channel=channel,
            audience=Delivery.Audience.CUSTOMER,
            recipient="",
            body="您好",
            customer=customer,
            source="test",
            now=local(2026, 3, 10, 12, 0),
        )
    assert d.status == DeliveryStatus.FAILED and d.last_error == error
    assert d.recipient_display == "—"
    assert callbacks == []


@pytest.mark.django_db
def test_staff_message_is_not_delayed_at_night(quiet, users, django_capture_on_commit_callbacks):
    now = local(2026, 3, 10, 22, 0)
    with django_capture_on_commit_callbacks() as callbacks:
        d = services.delivery_queue(
            channel="email",
            audience=Delivery.Audience.STAFF,
            recipient="manager1@example.cn",
            body="今日逾期 3 笔",
            subject="逾期提醒",
            user=users["manager1"],
            source="test",
            now=now,
        )
    assert d.status == DeliveryStatus.PENDING and d.not_before == now
    assert d.recipient_display == "ma***@example.cn"
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_staff_without_contact_fails(users):
    d = services.delivery_queue(
        channel="sms",
        audience=Delivery.Audience.STAFF,
        recipient="",
        body="x",
        source="t",
        user=users["sales1"],
    )
    assert d.status == DeliveryStatus.FAILED and d.last_error == "收件人没有联系方式"


@pytest.mark.django_db
def test_queued_message_is_sent_after_commit(
    settings, fake, customer, huey_immediate, django_capture_on_commit_callbacks
):
    settings.LOANCRM_QUIET_HOURS = ""  # the task sends at the real time, whatever the clock says
    with django_capture_on_commit_callbacks(execute=True):
        d = queue_customer_sms(customer, None)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT and d.attempts == 1
    [message] = fake.sent
    assert message.recipient == customer.phone and message.body == "【贷款助手】您好"


# --- sending --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_send_once(fake):
    d = staff_delivery()
    now = local(2026, 3, 10, 10, 1)
    assert services.delivery_send(d.pk, now=now) == "sent"
    assert services.delivery_send(d.pk, now=now) == "not_due"
    assert services.deliveries_send_due(now=now + timedelta(hours=1)) == {}
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT and d.attempts == 1
    assert d.provider_id == "fake-1" and d.sent_at is not None and d.last_error == ""
    assert len(fake.sent) == 1 and fake.sent[0].recipient == "13812345678"


@pytest.mark.django_db
def test_not_sent_before_its_time(fake):
    d = staff_delivery(not_before=local(2026, 3, 11, 8, 0))
    assert services.delivery_send(d.pk, now=local(2026, 3, 11, 7, 59)) == "not_due"
    assert services.deliveries_send_due(now=local(2026, 3, 11, 7, 59)) == {}
    assert services.deliveries_send_due(now=local(2026, 3, 11, 8, 0)) == {"sent": 1}
    assert len(fake.sent) == 1


@pytest.mark.django_db
def test_retry_backs_off_then_fails(fake):
    fake.fail = SendError("isv.BUSINESS_LIMIT_CONTROL: 流控", retry=True)
    d = staff_delivery()
    now = local(2026, 3, 10, 10, 0)
    assert services.delivery_send(d.pk, now=now) == "retry"
    d.refresh_from_db()
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1
    assert d.not_before == now + timedelta(minutes=1)
    assert d.claimed_at is None and "BUSINESS_LIMIT_CONTROL" in d.last_error
    assert services.delivery_send(d.pk, now=now + timedelta(seconds=59)) == "not_due"

    for attempt, wait in [(2, 5), (3, 30), (4, 120)]:
        now = d.not_before
        assert services.delivery_send(d.pk, now=now) == "retry"
        d.refresh_from_db()
        assert (d.status, d.attempts, d.not_before) == ("pending", attempt, now + timedelta(minutes=wait))

    assert services.delivery_send(d.pk, now=d.not_before) == "failed"
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED and d.attempts == 5 and d.sent_at is None
    assert services.delivery_send(d.pk, now=d.not_before + timedelta(days=1)) == "not_due"


@pytest.mark.django_db
def test_permanent_error_fails_at_once(fake):
    fake.fail = SendError("isv.MOBILE_NUMBER_ILLEGAL: 非法手机号", retry=False)
    d = staff_delivery()
    assert services.delivery_send(d.pk, now=local(2026, 3, 10, 10, 0)) == "failed"
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED and d.attempts == 1
    assert d.last_error == "isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"


@pytest.mark.django_db
def test_unexpected_error_is_a_failed_attempt_not_a_stuck_message(monkeypatch):
    broken = FakeChannel(fail=AttributeError("'list' object has no attribute 'get'"))
    channels = iter([broken, FakeChannel()])
    monkeypatch.setattr("loancrm.notifications.services.channel_for", lambda name: next(channels))
    d = staff_delivery()
    other = staff_delivery()
    # One message failing oddly does not stop the tick from sending the next one.
    assert services.deliveries_send_due(now=local(2026, 3, 10, 10, 0)) == {"retry": 1, "sent": 1}
    d.refresh_from_db()
    other.refresh_from_db()
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1
    assert d.last_error.startswith("AttributeError: ")
    assert other.status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_missing_attachment_is_a_failed_attempt(fake, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    d = staff_delivery(channel="email", recipient="a@example.cn", attachment="reports/nope.xlsx")
    assert services.delivery_send(d.pk, now=local(2026, 3, 10, 10, 0)) == "retry"
    d.refresh_from_db()
    assert d.status == DeliveryStatus.PENDING and "nope.xlsx" in d.last_error
    assert fake.sent == []


@pytest.mark.django_db
def test_attachment_is_read_from_private_files(fake, settings, tmp_path):
    settings.PRIVATE_FILES_DIR = tmp_path
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r.xlsx").write_bytes(b"PK-workbook")
    d = staff_delivery(
        channel="email", recipient="a@example.cn", attachment="reports/r.xlsx", attachment_name="日报.xlsx"
    )
    assert services.delivery_send(d.pk, now=local(2026, 3, 10, 10, 0)) == "sent"
    [(name, content, mimetype)] = fake.sent[0].attachments
    assert (name, content) == ("日报.xlsx", b"PK-workbook") and "spreadsheetml" in mimetype


@pytest.mark.django_db
def test_tick_puts_back_a_message_a_dead_worker_left(fake):
    # A claim is judged stale by the real clock, whatever time the tick is told it is.
    from django.utils import timezone

    now = timezone.now()
    stuck = staff_delivery(status=DeliveryStatus.SENDING, attempts=1, claimed_at=now - timedelta(minutes=11))
    busy = staff_delivery(status=DeliveryStatus.SENDING, attempts=1, claimed_at=now - timedelta(minutes=5))
    assert services.deliveries_send_due(now=now) == {"sent": 1}
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert stuck.status == DeliveryStatus.SENT and stuck.attempts == 2
    assert busy.status == DeliveryStatus.SENDING  # another worker may still be sending it
    assert len(fake.sent) == 1


@pytest.mark.django_db
def test_tick_sends_oldest_first_up_to_the_limit(fake):
    late = staff_delivery(not_before=local(2026, 3, 10, 10, 5), body="late")
    early = staff_delivery(not_before=local(2026, 3, 10, 10, 0), body="early")
    assert services.deliveries_send_due(now=local(2026, 3, 10, 11, 0), limit=1) == {"sent": 1}
    assert [m.body for m in fake.sent] == ["early"]
    early.refresh_from_db()
    late.refresh_from_db()
    assert early.status == "sent" and late.status == "pending"


# --- intake notices follow their delivery ---------------------------------------------------------------


@pytest.fixture
def application(settings, users, customers):
    from loancrm.core.demo.intake import ensure_products
    from loancrm.intake.services import application_create, ensure_default_workflow

    settings.LOANCRM_QUIET_HOURS = ""  # whatever the clock says, the notice's SMS is due at once
    ensure_default_workflow()
    product = ensure_products()["xinyidai"]
    own = customers.filter(owner=users["sales1"], customer_type="individual").order_by("id")
    customer = next(c for c in own if c.phone and not c.message_opt_out)
    return application_create(
        by=users["sales1"], customer=customer, product=product, amount=30000, term_months=12
    )


@pytest.mark.django_db
def test_notice_follows_a_sent_delivery(fake, application):
    from loancrm.intake.models import Notice

    notice = Notice.objects.get(application=application, event="received")
    assert notice.status == Notice.Status.PENDING and notice.delivery.status == DeliveryStatus.PENDING
    assert services.delivery_send(notice.delivery_id) == "sent"
    notice.refresh_from_db()
    assert notice.status == Notice.Status.SENT
    assert notice.sent_at is not None and notice.sent_at == notice.delivery.sent_at


@pytest.mark.django_db
def test_notice_follows_a_failed_delivery(fake, application):
    from loancrm.intake.models import Notice
    from loancrm.intake.services import notice_queue

    notice = notice_queue(application, "approved")
    fake.fail = SendError("isv.MOBILE_NUMBER_ILLEGAL", retry=False)
    assert services.delivery_send(notice.delivery_id) == "failed"
    notice.refresh_from_db()
    assert notice.status == Notice.Status.FAILED and notice.sent_at is None


@pytest.mark.django_db
def test_notice_stays_pending_while_retrying(fake, application):
    from loancrm.intake.models import Notice

    notice = Notice.objects.get(application=application, event="received")
    fake.fail = SendError("busy", retry=True)
    assert services.delivery_send(notice.delivery_id) == "retry"
    notice.refresh_from_db()
    assert notice.status == Notice.Status.PENDING


# --- resending ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_retry_needs_rules_manage(users):
    d = staff_delivery(status=DeliveryStatus.FAILED, attempts=5, last_error="x")
    with pytest.raises(PermissionDenied):
        services.delivery_retry(by=users["sales1"], delivery=d)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert AuditEntry.objects.filter(action=Action.PERMISSION_DENIED, actor=users["sales1"]).exists()
    assert not AuditEntry.objects.filter(action="delivery.retry").exists()


@pytest.mark.django_db
def test_retry_requeues_a_failed_one(users, django_capture_on_commit_callbacks):
    d = staff_delivery(status=DeliveryStatus.FAILED, attempts=5, last_error="x")
    with django_capture_on_commit_callbacks() as callbacks:
        d = services.delivery_retry(by=users["admin"], delivery=d)
    assert d.status == DeliveryStatus.PENDING and d.attempts == 0 and d.claimed_at is None
    assert len(callbacks) == 1
    entry = AuditEntry.objects.get(action="delivery.retry")
    assert entry.actor == users["admin"] and entry.object_id == str(d.pk)
    assert entry.extra["channel"] == "sms"


@pytest.mark.django_db
def test_retry_then_send(users, fake, huey_immediate, django_capture_on_commit_callbacks):
    d = staff_delivery(status=DeliveryStatus.FAILED, attempts=5, last_error="x")
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(by=users["admin"], delivery=d)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT and d.attempts == 1 and d.last_error == ""


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "sending", "sent", "suppressed", "cancelled"])
def test_only_failed_ones_are_resent(users, status):
    d = staff_delivery(status=status)
    with pytest.raises(ValidationError) as exc:
        services.delivery_retry(by=users["admin"], delivery=d)
    assert "只有发送失败的消息可以重发" in exc.value.messages
    d.refresh_from_db()
    assert d.status == status
    assert not AuditEntry.objects.filter(action="delivery.retry").exists()


# --- to-dos and read marks ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_todo_complete_own_only(users):
    todo = services.todo_create(user=users["sales1"], title="回访客户", due_at=local(2026, 3, 11, 9, 0))
    with pytest.raises(ValidationError) as exc:
        services.todo_complete(by=users["sales2"], todo=todo)
    assert "只能完成自己的待办" in exc.value.messages
    with pytest.raises(ValidationError):
        services.todo_complete(by=users["manager1"], todo=todo)
    todo.refresh_from_db()
    assert todo.status == Todo.Status.OPEN and todo.done_at is None

    done = services.todo_complete(by=users["sales1"], todo=todo)
    assert done.status == Todo.Status.DONE and done.done_at is not None
    first = done.done_at
    again = services.todo_complete(by=users["sales1"], todo=todo)
    assert again.status == Todo.Status.DONE and again.done_at == first


@pytest.mark.django_db
def test_mark_read_only_marks_own(users):
    mine = [services.notification_create(user=users["sales1"], title=f"通知{i}") for i in range(3)]
    theirs = services.notification_create(user=users["sales2"], title="别人的")
    assert services.notifications_mark_read(by=users["sales1"], ids=[mine[0].pk, theirs.pk]) == 1
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert Notification.objects.get(pk=mine[0].pk).read_at is not None
    assert Notification.objects.get(pk=mine[1].pk).read_at is None

    assert services.notifications_mark_read(by=users["sales1"]) == 2
    assert not Notification.objects.filter(user=users["sales1"], read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert services.notifications_mark_read(by=users["sales1"]) == 0


@pytest.mark.django_db
def test_notification_create_cuts_long_fields(users):
    n = services.notification_create(user=users["sales1"], title="长" * 300, url="/x/" + "a" * 400)
    assert len(n.title) == 200 and len(n.url) == 300


# --- templates ------------------------------------------------------------------------------------------


def test_template_render_and_syntax_error():
    assert services.template_render("{{ name }} 您好 <b>", {"name": "张三&李四"}) == "张三&李四 您好 <b>"
    with pytest.raises(ValidationError):
        services.template_render("{% if %}", {})


# --- two workers ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_it_once(monkeypatch):
    channel = FakeChannel(delay=0.05)
    monkeypatch.setattr("loancrm.notifications.services.channel_for", lambda name: channel)
    d = staff_delivery()
    now = local(2026, 3, 10, 10, 1)
    start = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        from django.db import OperationalError

        try:
            start.wait()
            for _attempt in range(50):
                try:
                    results.append(services.delivery_send(d.pk, now=now))
                    break
                except OperationalError as e:  # SQLite's in-memory test database locks whole tables
                    if "locked" not in str(e):
                        raise
                    __import__("time").sleep(0.05)  # as a worker's task retry would
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == ["not_due", "sent"]
    assert len(channel.sent) == 1
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT and d.attempts == 1
