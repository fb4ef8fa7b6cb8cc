"""Loans after approval: partner institutions (资金方), the loan record, its repayment schedule
(还款计划), payments and their allocation (a ledger that always balances), overdue buckets
(M0/M1/M2/M3+), collection (催收) and post-loan visits (贷后回访)."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


class RepaymentMethod(models.TextChoices):
    ANNUITY = "annuity", _("等额本息")
    EQUAL_PRINCIPAL = "equal_principal", _("等额本金")
    INTEREST_FIRST = "interest_first", _("先息后本")
    BULLET = "bullet", _("到期一次还本付息")


class Institution(models.Model):
    class Kind(models.TextChoices):
        BANK = "bank", _("银行")
        CONSUMER_FINANCE = "consumer_finance", _("消费金融公司")
        MICRO_LOAN = "micro_loan", _("小额贷款公司")
        OTHER = "other", _("其他")

    name = models.CharField(_("资金方名称"), max_length=100, unique=True)
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.BANK)
    contact = models.CharField(_("联系人"), max_length=50, blank=True)
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("资金方")
        verbose_name_plural = _("资金方")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class LoanTerms(models.Model):
    """What a product means after disbursement: who lends, how it is repaid, what late costs, the fee."""

    class Prepayment(models.TextChoices):
        REDUCE_PAYMENT = "reduce_payment", _("提前还款后减少月供（期限不变）")
        SHORTEN_TERM = "shorten_term", _("提前还款后缩短期限（月供不变）")

    class FeePayer(models.TextChoices):
        INSTITUTION = "institution", _("资金方支付")
        CUSTOMER = "customer", _("客户支付")

    product = models.OneToOneField(
        "intake.Product", verbose_name=_("产品"), on_delete=models.CASCADE, related_name="loan_terms"
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("资金方"), on_delete=models.PROTECT, related_name="terms"
    )
    methods = models.JSONField(_("可选还款方式"), default=list)
    penalty_daily_rate = models.DecimalField(
        _("罚息日利率"), max_digits=7, decimal_places=6, default=Decimal("0.0005"),
        help_text=_("逾期本金每日按此利率计罚息，如 0.0005 即万分之五"),
    )  # fmt: skip
    allocation_order = models.JSONField(_("还款冲抵顺序"), default=list)  # penalty / interest / principal
    prepayment = models.CharField(
        _("提前还款"), max_length=20, choices=Prepayment.choices, default=Prepayment.REDUCE_PAYMENT
    )
    service_fee_rate = models.DecimalField(
        _("服务费率"), max_digits=6, decimal_places=4, default=Decimal("0.0200"),
        help_text=_("按放款本金计，如 0.02 即 2%"),
    )  # fmt: skip
    service_fee_payer = models.CharField(
        _("服务费支付方"), max_length=20, choices=FeePayer.choices, default=FeePayer.INSTITUTION
    )

    class Meta:
        verbose_name = _("贷款条款")
        verbose_name_plural = _("贷款条款")

    def __str__(self) -> str:
        return f"{self.product} · {self.institution}"


DEFAULT_ALLOCATION = ["penalty", "interest", "principal"]


class LoanStatus(models.TextChoices):
    NORMAL = "normal", _("正常")
    OVERDUE = "overdue", _("逾期")
    SETTLED = "settled", _("结清")
    WRITTEN_OFF = "written_off", _("核销")


class Loan(models.Model):
    loan_no = models.CharField(_("贷款编号"), max_length=20, unique=True, editable=False)
    application = models.OneToOneField(
        "intake.LoanApplication", verbose_name=_("进件申请"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="loan",
    )  # fmt: skip
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.PROTECT, related_name="loans"
    )
    product = models.ForeignKey(
        "intake.Product", verbose_name=_("产品"), on_delete=models.PROTECT, related_name="+"
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("资金方"), on_delete=models.PROTECT, related_name="loans"
    )
    contract_no = models.CharField(_("合同编号"), max_length=60)
    contract_file = models.ForeignKey(
        "customers.Attachment", verbose_name=_("合同文件"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )  # fmt: skip
    principal = models.DecimalField(_("本金（元）"), **MONEY)
    annual_rate = models.DecimalField(
        _("年利率"), max_digits=7, decimal_places=6, help_text=_("如 0.0435 即 4.35%")
    )
    months = models.PositiveSmallIntegerField(_("期限（月）"))
    method = models.CharField(_("还款方式"), max_length=20, choices=RepaymentMethod.choices)
    disbursed_on = models.DateField(_("放款日"))
    first_due_on = models.DateField(_("首期还款日"))
    penalty_daily_rate = models.DecimalField(_("罚息日利率"), max_digits=7, decimal_places=6)
    allocation_order = models.JSONField(_("还款冲抵顺序"), default=list)
    prepayment = models.CharField(_("提前还款"), max_length=20, choices=LoanTerms.Prepayment.choices)

    status = models.CharField(_("状态"), max_length=20, choices=LoanStatus.choices, default=LoanStatus.NORMAL)
    days_past_due = models.PositiveIntegerField(_("逾期天数"), default=0)
    bucket = models.CharField(_("逾期账龄"), max_length=10, default="M0")
    overdue_amount = models.DecimalField(_("逾期金额（元）"), default=Decimal("0"), **MONEY)
    outstanding_principal = models.DecimalField(_("剩余本金（元）"), **MONEY)
    assessed_on = models.DateField(_("逾期计算日"), null=True, blank=True)
    settled_on = models.DateField(_("结清日"), null=True, blank=True)
    written_off_on = models.DateField(_("核销日"), null=True, blank=True)
    # 核销 is two people's decision: finance asks with the reason, an approver (not the same person) approves.
    write_off_reason = models.CharField(_("核销原因"), max_length=300, blank=True)
    write_off_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("核销申请人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    write_off_requested_at = models.DateTimeField(_("核销申请时间"), null=True, blank=True)

    service_fee = models.DecimalField(_("服务费（元）"), default=Decimal("0"), **MONEY)
    service_fee_payer = models.CharField(_("服务费支付方"), max_length=20, choices=LoanTerms.FeePayer.choices)
    service_fee_received = models.DecimalField(_("服务费已收（元）"), default=Decimal("0"), **MONEY)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("业务员"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="loans",
    )  # fmt: skip
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("所属部门"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("贷款")
        verbose_name_plural = _("贷款")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], name="loan_owner_recent"),
            models.Index(fields=["department", "-id"], name="loan_dept_recent"),
            models.Index(fields=["status", "bucket"], name="loan_status_bucket"),
            models.Index(fields=["disbursed_on"], name="loan_disbursed"),
        ]

    def __str__(self) -> str:
        return self.loan_no

    @property
    def visit_due_on(self):
        """The post-loan visit is due a month after 放款 (seed 003)."""
        from .schedules import add_months

        return add_months(self.disbursed_on, 1)

    @property
    def annual_rate_percent(self) -> Decimal:
        return (self.annual_rate * 100).quantize(Decimal("0.01"))

    @property
    def service_fee_outstanding(self) -> Decimal:
        return max(self.service_fee - self.service_fee_received, Decimal("0"))


class InstallmentStatus(models.TextChoices):
    DUE = "due", _("待还")
    PARTIAL = "partial", _("部分还款")
    PAID = "paid", _("已还清")
    CANCELLED = "cancelled", _("已取消")  # replaced by a recalculated schedule


class RepaymentInstallment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="installments")
    period = models.PositiveSmallIntegerField(_("期数"))
    due_date = models.DateField(_("应还日"))
    principal_due = models.DecimalField(_("应还本金"), **MONEY)
    interest_due = models.DecimalField(_("应还利息"), **MONEY)
    payment_due = models.DecimalField(_("应还金额"), **MONEY)
    balance_after = models.DecimalField(_("剩余本金"), **MONEY)
    principal_paid = models.DecimalField(_("已还本金"), default=Decimal("0"), **MONEY)
    interest_paid = models.DecimalField(_("已还利息"), default=Decimal("0"), **MONEY)
    penalty_accrued = models.DecimalField(_("罚息"), default=Decimal("0"), **MONEY)
    penalty_paid = models.DecimalField(_("已还罚息"), default=Decimal("0"), **MONEY)
    status = models.CharField(
        _("状态"), max_length=10, choices=InstallmentStatus.choices, default=InstallmentStatus.DUE
    )
    paid_on = models.DateField(_("还清日"), null=True, blank=True)
    penalty_through = models.DateField(_("罚息计至"), null=True, blank=True)
    # An early repayment's principal is a row of its own (提前还本), fully paid on the day it was paid.
    is_prepayment = models.BooleanField(_("提前还本"), default=False)
    # A recalculation (early repayment) cancels the open rows and adds a new version of the schedule.
    version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        verbose_name = _("还款计划")
        verbose_name_plural = _("还款计划")
        ordering = ["loan", "version", "period"]
        indexes = [
            models.Index(fields=["status", "due_date"], name="installment_open_due"),
            models.Index(fields=["due_date"], name="installment_due"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} #{self.period}"

    @property
    def paid_total(self) -> Decimal:
        return self.principal_paid + self.interest_paid

    @property
    def principal_left(self) -> Decimal:
        return self.principal_due - self.principal_paid

    @property
    def interest_left(self) -> Decimal:
        return self.interest_due - self.interest_paid

    @property
    def penalty_left(self) -> Decimal:
        return self.penalty_accrued - self.penalty_paid


class Repayment(models.Model):
    class Kind(models.TextChoices):
        REGULAR = "regular", _("按期/逾期还款")
        EARLY_PARTIAL = "early_partial", _("提前部分还款")
        EARLY_FULL = "early_full", _("提前结清")

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="repayments")
    kind = models.CharField(_("类型"), max_length=20, choices=Kind.choices, default=Kind.REGULAR)
    amount = models.DecimalField(_("金额（元）"), **MONEY)
    paid_on = models.DateField(_("还款日"))
    note = models.CharField(_("备注"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("还款记录")
        verbose_name_plural = _("还款记录")
        ordering = ["paid_on", "id"]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.paid_on} {self.amount}"


class Allocation(models.Model):
    """Where each yuan of a payment went: the ledger (sum of allocations = sum of payments)."""

    class Component(models.TextChoices):
        PENALTY = "penalty", _("罚息")
        INTEREST = "interest", _("利息")
        PRINCIPAL = "principal", _("本金")

    repayment = models.ForeignKey(Repayment, on_delete=models.CASCADE, related_name="allocations")
    installment = models.ForeignKey(
        RepaymentInstallment, on_delete=models.PROTECT, related_name="allocations"
    )
    component = models.CharField(_("科目"), max_length=10, choices=Component.choices)
    amount = models.DecimalField(_("金额"), **MONEY)

    class Meta:
        verbose_name = _("还款冲抵")
        verbose_name_plural = _("还款冲抵")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.component} {self.amount}"


class OverdueBucket(models.Model):
    """An admin-editable aging range: M1 = 1–30 days past due …; the open-ended last has no max."""

    code = models.CharField(_("代码"), max_length=10, unique=True)
    label = models.CharField(_("名称"), max_length=40)
    min_days = models.PositiveIntegerField(_("逾期天数从"))
    max_days = models.PositiveIntegerField(_("逾期天数到"), null=True, blank=True)

    class Meta:
        verbose_name = _("逾期账龄")
        verbose_name_plural = _("逾期账龄")
        ordering = ["min_days"]

    def __str__(self) -> str:
        return self.code


class CollectionTask(models.Model):
    """催收: one overdue loan's collection work for one collector, escalated as its bucket worsens."""

    class Status(models.TextChoices):
        OPEN = "open", _("催收中")
        CLOSED = "closed", _("已结束")

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="collection_tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("催收员"),
        on_delete=models.PROTECT,
        related_name="collection_tasks",
    )
    bucket = models.CharField(_("账龄"), max_length=10)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    next_action_on = models.DateField(_("下次跟进日"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    close_reason = models.CharField(_("结束原因"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("催收任务")
        verbose_name_plural = _("催收任务")
        ordering = ["next_action_on", "id"]
        indexes = [models.Index(fields=["assignee", "status"], name="collection_assignee_open")]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.bucket}"


class CollectionAttempt(models.Model):
    class Way(models.TextChoices):
        PHONE = "phone", _("电话")
        SMS = "sms", _("短信")
        VISIT = "visit", _("上门")
        WECHAT = "wechat", _("微信")
        LETTER = "letter", _("信函")

    class Result(models.TextChoices):
        REACHED = "reached", _("已联系上")
        PROMISED = "promised", _("承诺还款")
        NO_ANSWER = "no_answer", _("无人接听")
        REFUSED = "refused", _("拒绝还款")
        WRONG_NUMBER = "wrong_number", _("号码错误")

    task = models.ForeignKey(CollectionTask, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(_("时间"), default=timezone.now)
    way = models.CharField(_("方式"), max_length=10, choices=Way.choices)
    result = models.CharField(_("结果"), max_length=20, choices=Result.choices)
    note = models.TextField(_("记录"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("催收记录")
        verbose_name_plural = _("催收记录")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_id} {self.way} {self.result}"


class PromiseToPay(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("待兑现")
        KEPT = "kept", _("已兑现")
        BROKEN = "broken", _("未兑现")

    task = models.ForeignKey(CollectionTask, on_delete=models.CASCADE, related_name="promises")
    promised_on = models.DateField(_("承诺还款日"))
    amount = models.DecimalField(_("承诺金额（元）"), **MONEY)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("承诺还款")
        verbose_name_plural = _("承诺还款")
        ordering = ["promised_on", "id"]

    def __str__(self) -> str:
        return f"{self.task_id} {self.promised_on} {self.amount}"


class PostLoanVisit(models.Model):
    """贷后回访 (seed 003: a month after 放款): how the money is used, how the customer is doing."""

    class Way(models.TextChoices):
        PHONE = "phone", _("电话")
        VISIT = "visit", _("上门")
        WECHAT = "wechat", _("微信")

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="visits")
    at = models.DateTimeField(_("回访时间"), default=timezone.now)
    way = models.CharField(_("方式"), max_length=10, choices=Way.choices)
    fund_use = models.CharField(_("资金用途核实"), max_length=200)
    satisfaction = models.PositiveSmallIntegerField(_("满意度（1–5）"), null=True, blank=True)
    note = models.TextField(_("回访记录"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("贷后回访")
        verbose_name_plural = _("贷后回访")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.at:%Y-%m-%d}"
