"""What reaches a person: in-app notifications, to-dos, and outbound messages (SMS, e-mail, WeCom).

An outbound message is a Delivery row first; the worker sends it, so a web request never talks to a
mail server or an SMS provider, and every message can be seen in the delivery log with its attempts.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loancrm.core.crypto import EncryptedTextField


class Channel(models.TextChoices):
    INAPP = "inapp", _("站内信")
    SMS = "sms", _("短信")
    EMAIL = "email", _("邮件")
    WECOM = "wecom", _("企业微信群")


class MessageTemplate(models.Model):
    """A message text admins edit. Bodies are Django template text over a fixed, non-sensitive
    context (customer name, amounts, dates, links; never an ID number or a full phone number)."""

    code = models.SlugField(_("代码"), max_length=50, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    subject = models.CharField(_("标题"), max_length=200, blank=True)
    body = models.TextField(_("内容"))
    # SMS providers in China send only pre-approved templates: the provider's code, with the
    # context values as its parameters. Empty for the development backend and other channels.
    provider_template = models.CharField(_("短信平台模板代码"), max_length=50, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)

    class Meta:
        verbose_name = _("消息模板")
        verbose_name_plural = _("消息模板")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """An in-app message to one user (the bell)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    url = models.CharField(_("链接"), max_length=300, blank=True)
    rule = models.ForeignKey(
        "rules.Rule",
        verbose_name=_("规则"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("时间"), default=timezone.now)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return self.title


class Todo(models.Model):
    """A to-do for one user, made by a rule (call this lead, visit this borrower, chase this loan)."""

    class Status(models.TextChoices):
        OPEN = "open", _("待办")
        DONE = "done", _("已完成")
        CANCELLED = "cancelled", _("已取消")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="todos")
    title = models.CharField(_("待办事项"), max_length=200)
    body = models.TextField(_("说明"), blank=True)
    url = models.CharField(_("链接"), max_length=300, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="todos"
    )
    rule = models.ForeignKey(
        "rules.Rule",
        verbose_name=_("规则"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField(_("截止时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    done_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("待办")
        verbose_name_plural = _("待办")
        ordering = ["due_at", "created_at", "id"]
        indexes = [models.Index(fields=["user", "status"], name="todo_user_status")]

    def __str__(self) -> str:
        return self.title


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")
    SUPPRESSED = "suppressed", _("未发送（客户拒收）")
    CANCELLED = "cancelled", _("已取消")


class Delivery(models.Model):
    """One outbound message and what happened to it."""

    class Audience(models.TextChoices):
        CUSTOMER = "customer", _("客户")
        STAFF = "staff", _("员工")
        GROUP = "group", _("群")

    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices)
    audience = models.CharField(_("对象"), max_length=10, choices=Audience.choices)
    recipient = EncryptedTextField(_("收件方"))  # a phone number or address is sensitive
    recipient_display = models.CharField(_("收件方"), max_length=120)  # masked
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    rule = models.ForeignKey(
        "rules.Rule",
        verbose_name=_("规则"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(_("来源"), max_length=30)  # rule code, "notice:<event>", "report"
    subject = models.CharField(_("标题"), max_length=200, blank=True)
    body = models.TextField(_("内容"))
    provider_template = models.CharField(max_length=50, blank=True)
    params = models.JSONField(default=dict, blank=True)
    attachment = models.CharField(max_length=300, blank=True)  # a file under PRIVATE_FILES_DIR
    attachment_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        _("状态"), max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    not_before = models.DateTimeField(_("最早发送时间"), default=timezone.now)  # quiet hours push this
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    provider_id = models.CharField(_("平台回执"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("消息发送记录")
        verbose_name_plural = _("消息发送记录")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "not_before"], name="delivery_due"),
            models.Index(fields=["rule", "status"], name="delivery_rule_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.recipient_display}"

    @property
    def body_display(self) -> str:
        """The text as the log shows it: a customer's upload or survey link works like a password, so
        its token is cut (only its hash is kept anywhere else)."""
        import re

        return re.sub(r"(/intake/[us]/)[^/\s]+/", r"\1…/", self.body)
