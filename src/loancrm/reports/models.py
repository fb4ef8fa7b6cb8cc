"""Report data: daily facts pre-aggregated by the worker (so a dashboard over a million customers reads
a few thousand rows), month-end bucket moves for roll rates, channel costs, and saved reports."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 16, "decimal_places": 2}


class FactDimensions(models.Model):
    """Who and where a fact is about: the scope helper filters on department and owner, the dashboard
    on channel and region."""

    department = models.ForeignKey(
        "accounts.Department", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    channel = models.CharField(max_length=40, blank=True)
    region = models.CharField(max_length=50, blank=True)

    class Meta:
        abstract = True


class ProductFactDimensions(FactDimensions):
    product = models.ForeignKey(
        "intake.Product", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )

    class Meta:
        abstract = True


class DailyFact(ProductFactDimensions):
    """Counts per local day and dimension. Leads: customers created; applications: created (with how
    many of them are approved/rejected by now); loans: disbursed (count and principal)."""

    class Kind(models.TextChoices):
        LEAD = "lead", _("线索")
        APPLICATION = "application", _("进件")
        LOAN = "loan", _("放款")
        COLLECTION = "collection", _("应收与回收")  # by due date: amount = due, paid = paid so far

    kind = models.CharField(max_length=12, choices=Kind.choices)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    timely = models.PositiveIntegerField(default=0)  # leads followed up within 24 hours
    amount = models.DecimalField(default=0, **MONEY)
    paid = models.DecimalField(default=0, **MONEY)
    # Applications: time from 进件 to the decision, over the `timed` decided ones. Loans: from 进件 to 放款.
    seconds = models.BigIntegerField(default=0)
    timed = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "day"], name="fact_kind_day"),
            models.Index(fields=["kind", "department", "day"], name="fact_kind_dept_day"),
            models.Index(fields=["kind", "owner", "day"], name="fact_kind_owner_day"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day} {self.count}"


HOUR_BINS = [
    0.25,
    0.5,
    1,
    2,
    4,
    8,
    12,
    24,
    36,
    48,
    72,
    96,
    168,
    336,
    720,
]  # upper edges; the last bin is open


class NodeFact(ProductFactDimensions):
    """Time spent in a workflow node, per day the application left it: count, total, breaches of the
    node's time limit, and a histogram (h0…h15, hour bins above) from which P90 is read."""

    day = models.DateField()
    node = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    h0 = models.PositiveIntegerField(default=0)
    h1 = models.PositiveIntegerField(default=0)
    h2 = models.PositiveIntegerField(default=0)
    h3 = models.PositiveIntegerField(default=0)
    h4 = models.PositiveIntegerField(default=0)
    h5 = models.PositiveIntegerField(default=0)
    h6 = models.PositiveIntegerField(default=0)
    h7 = models.PositiveIntegerField(default=0)
    h8 = models.PositiveIntegerField(default=0)
    h9 = models.PositiveIntegerField(default=0)
    h10 = models.PositiveIntegerField(default=0)
    h11 = models.PositiveIntegerField(default=0)
    h12 = models.PositiveIntegerField(default=0)
    h13 = models.PositiveIntegerField(default=0)
    h14 = models.PositiveIntegerField(default=0)
    h15 = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="nodefact_day"),
            models.Index(fields=["department", "day"], name="nodefact_dept_day"),
            models.Index(fields=["owner", "day"], name="nodefact_owner_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.node} {self.count}"


class PortraitFact(FactDimensions):
    """New customers per day by one portrait dimension (贷款类型, 期望金额段, 年龄段, 地区, 职业)."""

    day = models.DateField()
    dim = models.CharField(max_length=12)
    value = models.CharField(max_length=60, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="portrait_day"),
            models.Index(fields=["department", "day"], name="portrait_dept_day"),
            models.Index(fields=["owner", "day"], name="portrait_owner_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dim}={self.value} {self.count}"


class RollFact(models.Model):
    """Loans that were in `from_bucket` at the end of the month before `month_end` and in `to_bucket`
    at `month_end` (buckets read back from the instalments, so history needs no nightly snapshot)."""

    month_end = models.DateField()
    department = models.ForeignKey(
        "accounts.Department", null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    from_bucket = models.CharField(max_length=10)
    to_bucket = models.CharField(max_length=10)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["month_end", "department"], name="roll_month_dept")]

    def __str__(self) -> str:
        return f"{self.month_end} {self.from_bucket}→{self.to_bucket} {self.count}"


class FactRefresh(models.Model):
    """When the facts were last rebuilt (the dashboard says how fresh its numbers are)."""

    name = models.CharField(max_length=20, primary_key=True)
    refreshed_at = models.DateTimeField()
    seconds = models.FloatField(default=0)
    rows = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} {self.refreshed_at:%Y-%m-%d %H:%M}"


class ChannelCost(models.Model):
    """What a channel cost in a month (投放费用), entered by admins; gives cost per lead."""

    month = models.DateField(_("月份"))  # the first day of the month
    channel = models.CharField(_("来源渠道"), max_length=40)
    amount = models.DecimalField(_("费用（元）"), **MONEY)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("渠道费用")
        verbose_name_plural = _("渠道费用")
        constraints = [models.UniqueConstraint(fields=["month", "channel"], name="channel_cost_month")]
        ordering = ["-month", "channel"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.channel} {self.amount}"


class SavedReport(models.Model):
    """A dashboard view a user keeps (its filters), and can have e-mailed by a rule."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_reports")
    name = models.CharField(_("名称"), max_length=60)
    filters = models.JSONField(_("筛选条件"), default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("保存的报表")
        verbose_name_plural = _("保存的报表")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_report_name")]

    def __str__(self) -> str:
        return self.name
