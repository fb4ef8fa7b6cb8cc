"""Automation rules: when (a scan, an event on a record, a schedule), on which records (conditions on
fields), do what (to-dos, notices, messages, set a field, assign). Admins edit them in the UI.

A RuleFire row is the proof that a rule acted on a record for one occurrence. It is unique, and it is
written in the same transaction as the actions, so each (rule, record, occurrence) acts exactly once
however many workers scan at the same time, and a crash before commit leaves nothing half done.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Trigger(models.TextChoices):
    SCAN = "scan", _("定时扫描（每 5 分钟）")
    EVENT = "event", _("记录事件")
    SCHEDULE = "schedule", _("按计划时间")


class Event(models.TextChoices):
    CREATED = "created", _("新建")
    CHANGED = "changed", _("修改")
    STAGE_CHANGED = "stage_changed", _("阶段变化")
    NODE_CHANGED = "node_changed", _("审批节点变化")


class Occurrence(models.TextChoices):
    ONCE = "once", _("每条记录只一次")
    PER_VISIT = "per_visit", _("每进入一次节点一次")
    DAILY = "daily", _("每天最多一次")
    EVERY_N_DAYS = "every_n_days", _("每 N 天一次")
    WEEKLY = "weekly", _("每周最多一次")
    YEARLY = "yearly", _("每年一次")
    PER_EVENT = "per_event", _("每个事件一次")


class Frequency(models.TextChoices):
    DAILY = "daily", _("每天")
    WEEKLY = "weekly", _("每周")
    MONTHLY = "monthly", _("每月")


class Rule(models.Model):
    code = models.SlugField(_("代码"), max_length=50, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    description = models.CharField(_("说明"), max_length=300, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    is_default = models.BooleanField(_("系统预置"), default=False, editable=False)
    entity = models.CharField(_("对象"), max_length=20)  # see rules.entities.ENTITIES
    trigger = models.CharField(_("触发方式"), max_length=10, choices=Trigger.choices, default=Trigger.SCAN)
    events = models.JSONField(_("事件"), default=list, blank=True)
    # Schedule: the time of day (and weekday 1–7 / day of month) from which the rule runs once a period.
    frequency = models.CharField(
        _("频率"), max_length=10, choices=Frequency.choices, default=Frequency.DAILY, blank=True
    )
    at_time = models.TimeField(_("时间"), null=True, blank=True)
    weekday = models.PositiveSmallIntegerField(_("星期"), null=True, blank=True)
    month_day = models.PositiveSmallIntegerField(_("日期"), null=True, blank=True)
    # {"op": "and"|"or", "items": [{"field", "cmp", "value"} | nested group]}
    conditions = models.JSONField(_("条件"), default=dict, blank=True)
    # [{"type": "todo"|"notify"|"sms"|"email"|"wecom"|"set_field"|"assign"|"report", ...}]
    actions = models.JSONField(_("动作"), default=list)
    occurrence = models.CharField(
        _("重复"), max_length=15, choices=Occurrence.choices, default=Occurrence.ONCE
    )
    every_n_days = models.PositiveSmallIntegerField(_("间隔天数"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    last_run_at = models.DateTimeField(_("最近运行"), null=True, blank=True)

    class Meta:
        verbose_name = _("自动化规则")
        verbose_name_plural = _("自动化规则")
        ordering = ["-is_default", "id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        # Default rules' names are in the translation catalogue; a name an admin typed is shown as typed.
        from django.utils.translation import gettext

        return gettext(self.name)

    @property
    def display_description(self) -> str:
        from django.utils.translation import gettext

        return gettext(self.description) if self.description else ""


class RuleFire(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="fires")
    object_id = models.CharField(max_length=40)
    occurrence = models.CharField(max_length=40)
    at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("规则执行记录")
        verbose_name_plural = _("规则执行记录")
        constraints = [
            models.UniqueConstraint(fields=["rule", "object_id", "occurrence"], name="rulefire_once"),
        ]
        indexes = [models.Index(fields=["rule", "-at"], name="rulefire_rule_at")]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.object_id}:{self.occurrence}"


class RuleRun(models.Model):
    """One scan (from the worker or `loancrm rules run`): what it did, for the rules page."""

    started_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    fired = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=20, default="worker")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.as_of:%Y-%m-%d %H:%M} fired {self.fired}"
