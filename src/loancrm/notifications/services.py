"""Writes of notifications, to-dos and deliveries, and the sending of deliveries (worker only)."""

import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record

from .channels import Message, SendError, channel_for
from .models import Channel, Delivery, DeliveryStatus, MessageTemplate, Notification, Todo

MAX_ATTEMPTS = 5
BACKOFF_MINUTES = [1, 5, 30, 120]  # after attempt 1, 2, 3, 4; attempt 5 failing is final
STALE_SENDING = timedelta(minutes=10)  # a worker that died mid-send: the message goes back to the queue

# No loaders: {% include %} / {% extends %} in an admin's template find nothing (and fail on save).
_engine = Engine(
    autoescape=False,
    loaders=[],
    libraries={},
    builtins=["django.template.defaulttags", "django.template.defaultfilters"],
)
log = logging.getLogger(__name__)


# --- templates ------------------------------------------------------------------------------------------


def template_render(text: str, context: dict[str, Any]) -> str:
    """Django template text over a plain dict (no model objects, so nothing sensitive is reachable)."""
    try:
        return _engine.from_string(text).render(Context(context, autoescape=False)).strip()
    except (TemplateSyntaxError, TemplateDoesNotExist) as e:
        raise ValidationError(_("模板写法有误：%(e)s") % {"e": e}) from None


def template_check(text: str, field: str) -> None:
    try:
        _engine.from_string(text).render(Context({}, autoescape=False))  # also catches {% include %}
    except (TemplateSyntaxError, TemplateDoesNotExist) as e:
        raise ValidationError({field: [_("模板写法有误：%(e)s") % {"e": e}]}) from None


def template_save(*, by: User, template: MessageTemplate | None, data: dict[str, Any]) -> MessageTemplate:
    require_perm(by, Perm.RULES_MANAGE)
    for f in ("subject", "body"):
        template_check(data.get(f, ""), f)
    with transaction.atomic():
        creating = template is None
        template = template or MessageTemplate()
        for f in ("code", "name", "channel", "subject", "body", "provider_template"):
            if f in data:
                setattr(template, f, data[f])
        template.updated_at = timezone.now()
        template.full_clean()
        template.save()
        audit_record(
            action=Action.TEMPLATE_UPDATE,
            actor=by,
            obj=template,
            extra={"code": template.code, "created": creating},
        )
    return template


# --- quiet hours ----------------------------------------------------------------------------------------


def _quiet_window() -> tuple[time, time] | None:
    text = getattr(settings, "LOANCRM_QUIET_HOURS", "") or ""
    try:
        start, end = (time.fromisoformat(p.strip()) for p in text.split("-"))
    except ValueError:
        return None
    return start, end


def quiet_until(now: datetime) -> datetime | None:
    """The end of the quiet hours if `now` is inside them (customer messages wait until then)."""
    window = _quiet_window()
    if window is None:
        return None
    start, end = window
    local = timezone.localtime(now)
    t = local.time()
    tz = local.tzinfo
    if start > end:  # across midnight, e.g. 21:00–08:00
        if t >= start:
            return datetime.combine(local.date() + timedelta(days=1), end, tzinfo=tz)
        if t < end:
            return datetime.combine(local.date(), end, tzinfo=tz)
        return None
    if start <= t < end:
        return datetime.combine(local.date(), end, tzinfo=tz)
    return None


# --- in-app notifications and to-dos -------------------------------------------------------------------


def notification_create(
    *, user: User, title: str, body: str = "", url: str = "", rule=None, now=None
) -> Notification:
    return Notification.objects.create(
        user=user, title=title[:200], body=body, url=url[:300], rule=rule, created_at=now or timezone.now()
    )


def notifications_mark_read(*, by: User, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=by, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


def todo_create(
    *,
    user: User,
    title: str,
    body: str = "",
    url: str = "",
    customer=None,
    rule=None,
    due_at: datetime | None = None,
    now=None,
) -> Todo:
    return Todo.objects.create(
        user=user,
        title=title[:200],
        body=body,
        url=url[:300],
        customer=customer,
        rule=rule,
        due_at=due_at,
        created_at=now or timezone.now(),
    )


def todo_complete(*, by: User, todo: Todo) -> Todo:
    """Only the to-do's own user completes it (a manager reassigns the work, not the tick)."""
    with transaction.atomic():
        todo = Todo.objects.select_for_update().get(pk=todo.pk)
        if todo.user_id != by.pk:
            raise ValidationError(_("只能完成自己的待办"))
        if todo.status == Todo.Status.OPEN:
            todo.status = Todo.Status.DONE
            todo.done_at = timezone.now()
            todo.save(update_fields=["status", "done_at"])
    return todo


# --- deliveries -----------------------------------------------------------------------------------------


def _mask(channel: str, recipient: str) -> str:
    from loancrm.customers.validators import mask_phone

    if channel == Channel.SMS:
        return mask_phone(recipient)
    if channel == Channel.EMAIL and "@" in recipient:
        name, _at, domain = recipient.partition("@")
        return f"{name[:2]}***@{domain}"
    if channel == Channel.WECOM:
        return recipient.split("?")[0][:60] + "?key=***"
    return recipient[:3] + "***"


def delivery_queue(
    *,
    channel: str,
    audience: str,
    recipient: str,
    body: str,
    source: str,
    subject: str = "",
    customer=None,
    user: User | None = None,
    rule=None,
    provider_template: str = "",
    params: dict | None = None,
    attachment: str = "",
    attachment_name: str = "",
    now: datetime | None = None,
) -> Delivery:
    """Queue one message. A customer who opted out gets none (the row says so); a customer message
    inside the quiet hours waits until they end. The worker sends it after the transaction commits."""
    now = now or timezone.now()
    status = DeliveryStatus.PENDING
    error = ""
    not_before = now
    if audience == Delivery.Audience.CUSTOMER:
        if customer is not None and customer.message_opt_out:
            status, error = DeliveryStatus.SUPPRESSED, _("客户已拒收通知")
        elif not recipient:
            status = DeliveryStatus.FAILED
            error = _("客户没有手机号码") if channel == Channel.SMS else _("客户没有邮箱")
        else:
            not_before = quiet_until(now) or now
    elif not recipient:
        status, error = DeliveryStatus.FAILED, _("收件人没有联系方式")
    delivery = Delivery.objects.create(
        channel=channel,
        audience=audience,
        recipient=recipient,
        recipient_display=_mask(channel, recipient) if recipient else "—",
        customer=customer,
        user=user,
        rule=rule,
        source=source[:30],
        subject=subject[:200],
        body=body,
        provider_template=provider_template,
        params=params or {},
        attachment=attachment,
        attachment_name=attachment_name,
        status=status,
        last_error=error,
        not_before=not_before,
        created_at=now,
    )
    if status == DeliveryStatus.PENDING and not_before <= now:
        from .tasks import send_delivery

        transaction.on_commit(lambda: send_delivery(delivery.pk))
    return delivery


def _finish_notice(delivery: Delivery) -> None:
    # An intake status notice follows its delivery (the application page shows it).
    from loancrm.intake.models import Notice

    if delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED):
        Notice.objects.filter(delivery=delivery).update(
            status=Notice.Status.SENT if delivery.status == DeliveryStatus.SENT else Notice.Status.FAILED,
            sent_at=delivery.sent_at,
        )


def _message(delivery: Delivery) -> Message:
    attachments = []
    if delivery.attachment:
        path = Path(settings.PRIVATE_FILES_DIR) / delivery.attachment
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        attachments.append((delivery.attachment_name or path.name, path.read_bytes(), mimetype))
    return Message(
        recipient=delivery.recipient,
        body=delivery.body,
        subject=delivery.subject,
        provider_template=delivery.provider_template,
        params=delivery.params,
        attachments=attachments,
    )


def delivery_send(delivery_id: int, *, now: datetime | None = None) -> str:
    """Send one due delivery, once: the conditional claim means two workers never both send it."""
    now = now or timezone.now()
    # claimed_at is the real clock (a stale claim is judged by it), whatever `now` a test or --now gives.
    claimed = Delivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, not_before__lte=now
    ).update(status=DeliveryStatus.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1)
    if not claimed:
        return "not_due"
    delivery = Delivery.objects.select_related("customer").get(pk=delivery_id)
    if delivery.audience == Delivery.Audience.CUSTOMER:
        # Checked again when sending: the customer may have opted out since it was queued, and a retry,
        # a resend or a message put back after a crash may fall inside the quiet hours.
        if delivery.customer is not None and delivery.customer.message_opt_out:
            delivery.status, delivery.last_error, delivery.claimed_at = (
                DeliveryStatus.SUPPRESSED,
                _("客户已拒收通知"),
                None,
            )
            delivery.save(update_fields=["status", "last_error", "claimed_at"])
            _finish_notice(delivery)
            return "suppressed"
        wait = quiet_until(now)
        if wait is not None:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.PENDING, not_before=wait, claimed_at=None, attempts=F("attempts") - 1
            )
            return "held"
    try:
        provider_id = channel_for(delivery.channel).send(_message(delivery))
    except Exception as e:
        # Anything else (a provider's odd answer, a bad setting) is also this delivery's failure: left
        # uncaught it would keep the row in "sending" and stop the tick from sending the rest.
        if not isinstance(e, SendError | OSError):
            log.exception("delivery %s: unexpected error while sending", delivery_id)
        retry = getattr(e, "retry", True) and delivery.attempts < MAX_ATTEMPTS
        delivery.last_error = (str(e) if isinstance(e, SendError) else f"{type(e).__name__}: {e}")[:500]
        if retry:
            delivery.status = DeliveryStatus.PENDING
            delivery.not_before = now + timedelta(minutes=BACKOFF_MINUTES[delivery.attempts - 1])
            if delivery.audience == Delivery.Audience.CUSTOMER:
                delivery.not_before = quiet_until(delivery.not_before) or delivery.not_before
        else:
            delivery.status = DeliveryStatus.FAILED
        delivery.claimed_at = None
        delivery.save(update_fields=["status", "last_error", "not_before", "claimed_at"])
        _finish_notice(delivery)
        return "retry" if retry else "failed"
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = timezone.now()
    delivery.provider_id = (provider_id or "")[:100]
    delivery.last_error = ""
    delivery.save(update_fields=["status", "sent_at", "provider_id", "last_error"])
    _finish_notice(delivery)
    return "sent"


def deliveries_send_due(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The worker's minute tick: put back messages a dead worker left half-sent, then send what is due."""
    now = now or timezone.now()
    Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=timezone.now() - STALE_SENDING
    ).update(status=DeliveryStatus.PENDING, claimed_at=None)
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, not_before__lte=now)
        .order_by("not_before", "id")
        .values_list("pk", flat=True)[:limit]
    )
    counts: dict[str, int] = {}
    for pk in due:
        result = delivery_send(pk, now=now)
        counts[result] = counts.get(result, 0) + 1
    return counts


def delivery_retry(*, by: User, delivery: Delivery) -> Delivery:
    require_perm(by, Perm.RULES_MANAGE)
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.PENDING, not_before=timezone.now(), attempts=0, claimed_at=None
        )
        if not updated:
            raise ValidationError(_("只有发送失败的消息可以重发"))
        audit_record(
            action=Action.DELIVERY_RETRY, actor=by, obj=delivery, extra={"channel": delivery.channel}
        )
        from .tasks import send_delivery

        transaction.on_commit(lambda: send_delivery(delivery.pk))
    delivery.refresh_from_db()
    return delivery
