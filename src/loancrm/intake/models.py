"""Intake (进件): products and their material checklists, the data-driven approval workflow, loan
applications moving through it, their materials, customer upload links, notices and feedback.

The workflow is data: a `WorkflowDefinition` version holds ordered `WorkflowNode`s. An application
keeps the version it started with, so an admin's edit (a new version) changes new applications only.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


class BusinessLine(models.TextChoices):
    LOAN = "loan", _("贷款")
    CREDIT_CARD = "credit_card", _("信用卡")
    INSURANCE = "insurance", _("保险")


class LoanKind(models.TextChoices):
    CREDIT = "credit", _("信贷")
    MORTGAGE = "mortgage", _("抵押贷")
    OTHER = "other", _("其他")


class MaterialKind(models.TextChoices):
    ID_FRONT = "id_front", _("身份证人像面")
    ID_BACK = "id_back", _("身份证国徽面")
    CREDIT_REPORT = "credit_report", _("征信报告")
    BANK_STATEMENT = "bank_statement", _("银行流水")
    INCOME_PROOF = "income_proof", _("收入证明")
    BANK_CARD = "bank_card", _("银行卡")
    HOUSEHOLD_REGISTER = "household_register", _("户口本")
    MARRIAGE_CERT = "marriage_cert", _("婚姻证明")
    PROPERTY_CERT = "property_cert", _("房产证")
    VEHICLE_CERT = "vehicle_cert", _("机动车登记证")
    BUSINESS_LICENCE = "business_licence", _("营业执照")
    LEGAL_REP_ID = "legal_rep_id", _("法定代表人身份证")
    FINANCIAL_STATEMENT = "financial_statement", _("财务报表")
    TAX_RECORD = "tax_record", _("纳税记录")
    AUTHORIZATION = "authorization", _("征信查询授权书")
    CONTRACT = "contract", _("合同")
    OTHER = "other", _("其他")


# Materials whose photo OCR can read (the OCR document kind of the same code).
OCR_MATERIALS = {"id_front", "id_back", "bank_card", "business_licence"}


class Product(models.Model):
    code = models.SlugField(_("产品代码"), max_length=40, unique=True)
    name = models.CharField(_("产品名称"), max_length=100)
    business_line = models.CharField(
        _("业务类型"), max_length=20, choices=BusinessLine.choices, default=BusinessLine.LOAN
    )
    loan_kind = models.CharField(
        _("贷款类型"), max_length=20, choices=LoanKind.choices, default=LoanKind.CREDIT
    )
    min_amount = models.DecimalField(_("最低金额（元）"), default=Decimal("1000"), **MONEY)
    max_amount = models.DecimalField(_("最高金额（元）"), default=Decimal("1000000"), **MONEY)
    min_term_months = models.PositiveSmallIntegerField(_("最短期限（月）"), default=1)
    max_term_months = models.PositiveSmallIntegerField(
        _("最长期限（月）"), default=60, validators=[MaxValueValidator(360)]
    )
    annual_rate_min = models.DecimalField(
        _("年利率下限（%）"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    annual_rate_max = models.DecimalField(
        _("年利率上限（%）"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    description = models.CharField(_("说明"), max_length=300, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("产品")
        verbose_name_plural = _("产品")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class MaterialRequirement(models.Model):
    """One line of a product's checklist for one customer type."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="requirements")
    customer_type = models.CharField(_("客户类型"), max_length=20)  # customers.CustomerType
    kind = models.CharField(_("材料"), max_length=40, choices=MaterialKind.choices)
    required = models.BooleanField(_("必需"), default=True)
    note = models.CharField(_("要求说明"), max_length=200, blank=True, help_text=_("如 近 6 个月"))
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("材料清单")
        verbose_name_plural = _("材料清单")
        ordering = ["product", "customer_type", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "customer_type", "kind"], name="requirement_unique_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.get_kind_display()}"


class WorkflowDefinition(models.Model):
    code = models.SlugField(_("流程代码"), max_length=40)
    name = models.CharField(_("流程名称"), max_length=100)
    version = models.PositiveIntegerField(_("版本"), default=1)
    # The version new applications start on; one per code.
    is_current = models.BooleanField(_("当前版本"), default=True)
    note = models.CharField(_("修改说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("审批流程")
        verbose_name_plural = _("审批流程")
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="workflow_unique_version"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_current=True), name="workflow_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class HandlerType(models.TextChoices):
    OWNER = "owner", _("申请的业务员")
    ROLES = "roles", _("按角色")
    USERS = "users", _("指定人员")


class SignOff(models.TextChoices):
    SINGLE = "single", _("单人处理")
    ALL = "all", _("会签（全部同意）")
    ANY = "any", _("或签（任一同意）")


class ReviewStage(models.TextChoices):
    NONE = "", _("无")
    FIRST = "first", _("初审（完整性）")
    DETAILED = "detailed", _("复审（内容核查）")


class WorkflowNode(models.Model):
    definition = models.ForeignKey(WorkflowDefinition, on_delete=models.CASCADE, related_name="nodes")
    code = models.SlugField(_("节点代码"), max_length=40)
    name = models.CharField(_("节点名称"), max_length=60)
    order = models.PositiveSmallIntegerField(_("顺序"))
    handler_type = models.CharField(
        _("处理人"), max_length=10, choices=HandlerType.choices, default=HandlerType.OWNER
    )
    handler_roles = models.JSONField(_("处理角色"), default=list, blank=True)  # role codes
    handler_users = models.JSONField(_("指定处理人"), default=list, blank=True)  # usernames
    sign_off = models.CharField(_("签批方式"), max_length=10, choices=SignOff.choices, default=SignOff.SINGLE)
    sla_hours = models.PositiveIntegerField(_("时限（小时）"), default=24)
    required_fields = models.JSONField(_("必填字段"), default=list, blank=True)
    requires_materials = models.BooleanField(_("需齐全必需材料"), default=False)
    review_stage = models.CharField(
        _("审核阶段"), max_length=10, choices=ReviewStage.choices, default=ReviewStage.NONE, blank=True
    )
    checklist = models.JSONField(_("审核清单"), default=list, blank=True)  # item texts
    # Skip this node when every clause holds: [{"field": "amount", "op": "lte", "value": "50000"}, ...]
    skip_when = models.JSONField(_("跳过条件"), default=list, blank=True)
    can_reject = models.BooleanField(_("可拒绝"), default=False)
    # Status the application takes once this node is passed (approved / disbursed / closed).
    status_on_pass = models.CharField(_("通过后状态"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("流程节点")
        verbose_name_plural = _("流程节点")
        ordering = ["definition", "order"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "code"], name="node_unique_code"),
        ]

    def __str__(self) -> str:
        # Built-in node names are in the translation catalogue; a name an admin typed shows as typed.
        return gettext(self.name)

    @property
    def checklist_display(self) -> list[str]:
        return [gettext(item) for item in self.checklist]


class CreditGrade(models.TextChoices):
    GOOD = "good", _("良好")
    NORMAL = "normal", _("一般")
    POOR = "poor", _("较差")


class ApplicationStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("审批中")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("已拒绝")
    DISBURSED = "disbursed", _("已放款")
    CLOSED = "closed", _("已结清/归档")


OPEN_STATUSES = [ApplicationStatus.IN_PROGRESS, ApplicationStatus.APPROVED, ApplicationStatus.DISBURSED]


class LoanApplication(models.Model):
    application_no = models.CharField(_("申请编号"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("客户"), on_delete=models.PROTECT, related_name="applications"
    )
    product = models.ForeignKey(Product, verbose_name=_("产品"), on_delete=models.PROTECT, related_name="+")
    customer_type = models.CharField(_("客户类型"), max_length=20)
    business_line = models.CharField(_("业务类型"), max_length=20, choices=BusinessLine.choices)
    region = models.CharField(_("地区"), max_length=50, blank=True)
    amount = models.DecimalField(_("申请金额（元）"), **MONEY)
    term_months = models.PositiveSmallIntegerField(
        _("申请期限（月）"), validators=[MinValueValidator(1), MaxValueValidator(360)]
    )
    purpose = models.CharField(_("资金用途"), max_length=200, blank=True)
    credit_grade = models.CharField(_("征信等级"), max_length=10, choices=CreditGrade.choices, blank=True)
    approved_amount = models.DecimalField(_("批准额度（元）"), null=True, blank=True, **MONEY)
    approved_term_months = models.PositiveSmallIntegerField(_("批准期限（月）"), null=True, blank=True)
    approved_rate = models.DecimalField(
        _("批准年利率（%）"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("36"))],
    )  # fmt: skip

    status = models.CharField(
        _("状态"), max_length=20, choices=ApplicationStatus.choices, default=ApplicationStatus.IN_PROGRESS
    )
    workflow = models.ForeignKey(
        WorkflowDefinition, verbose_name=_("流程版本"), on_delete=models.PROTECT, related_name="applications"
    )
    node = models.ForeignKey(
        WorkflowNode,
        verbose_name=_("当前节点"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    node_entered_at = models.DateTimeField(_("进入节点时间"), null=True, blank=True)
    # Counts node entries, so sign-off votes and tasks belong to one visit of a node.
    visit = models.PositiveIntegerField(default=0, editable=False)
    sla_due_at = models.DateTimeField(_("节点时限"), null=True, blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("当前处理人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("业务员"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="applications",
    )
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("所属部门"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("录入人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now)
    decided_at = models.DateTimeField(_("审批决定时间"), null=True, blank=True)
    disbursed_at = models.DateTimeField(_("放款时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("进件申请")
        verbose_name_plural = _("进件申请")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], name="application_owner_recent"),
            models.Index(fields=["department", "-id"], name="application_dept_recent"),
            models.Index(fields=["status", "sla_due_at"], name="application_status_due"),
            models.Index(fields=["created_at"], name="application_created"),
        ]

    def __str__(self) -> str:
        return self.application_no

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES and self.node_id is not None

    @property
    def overdue(self) -> bool:
        return bool(self.is_open and self.sla_due_at and self.sla_due_at < timezone.now())


class TaskStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    DONE = "done", _("已处理")
    CANCELLED = "cancelled", _("已取消")


class ApplicationTask(models.Model):
    """One person's piece of work on one visit of a node: a to-do (我的待办) and, once done, their vote."""

    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="tasks")
    node = models.ForeignKey(WorkflowNode, on_delete=models.PROTECT, related_name="+")
    visit = models.PositiveIntegerField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="intake_tasks"
    )
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=20, blank=True)  # the action taken
    checks = models.JSONField(default=dict, blank=True)  # 复审 checklist: {item: true/false}
    comment = models.TextField(blank=True)

    class Meta:
        verbose_name = _("待办")
        verbose_name_plural = _("待办")
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["assignee", "status", "due_at"], name="task_assignee_open")]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.node_id}:{self.assignee_id}"


class Transition(models.Model):
    """Every move of an application (and every sign-off vote): who, when, what, why, time in the node."""

    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="transitions")
    action = models.CharField(_("操作"), max_length=20)
    from_node = models.CharField(_("从节点"), max_length=40, blank=True)
    to_node = models.CharField(_("到节点"), max_length=40, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("时间"), default=timezone.now)
    comment = models.TextField(_("意见/原因"), blank=True)
    seconds_in_node = models.PositiveIntegerField(_("节点用时（秒）"), null=True, blank=True)
    skipped = models.JSONField(_("跳过的节点"), default=list, blank=True)

    class Meta:
        verbose_name = _("流转记录")
        verbose_name_plural = _("流转记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["at"], name="transition_at")]

    def __str__(self) -> str:
        return f"{self.application_id} {self.action} {self.from_node}→{self.to_node}"


class MaterialSource(models.TextChoices):
    STAFF = "staff", _("员工上传")
    LINK = "link", _("客户通过链接上传")


class ReviewResult(models.TextChoices):
    PENDING = "pending", _("待审核")
    ACCEPTED = "accepted", _("合格")
    REJECTED = "rejected", _("不合格")


class ApplicationMaterial(models.Model):
    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="materials")
    kind = models.CharField(_("材料"), max_length=40, choices=MaterialKind.choices)
    # The file itself is a customer attachment: private storage, type checks and audited downloads.
    attachment = models.ForeignKey("customers.Attachment", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(
        _("来源"), max_length=10, choices=MaterialSource.choices, default=MaterialSource.STAFF
    )
    review = models.CharField(
        _("审核结果"), max_length=10, choices=ReviewResult.choices, default=ReviewResult.PENDING
    )
    review_comment = models.CharField(_("审核意见"), max_length=200, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ocr = models.JSONField(_("OCR 结果"), default=dict, blank=True)
    ocr_applied_at = models.DateTimeField(_("OCR 确认时间"), null=True, blank=True)
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    class Meta:
        verbose_name = _("进件材料")
        verbose_name_plural = _("进件材料")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.application_id} {self.get_kind_display()}"


class CustomerLink(models.Model):
    """An expiring no-login link for a customer: upload missing materials, or answer the survey.

    Only a hash of the token is stored; the link itself is shown once and put in the notice.
    """

    class Purpose(models.TextChoices):
        UPLOAD = "upload", _("补充材料上传")
        SURVEY = "survey", _("满意度调查")

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="links")
    kinds = models.JSONField(_("需上传的材料"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("有效期至"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    uses = models.PositiveIntegerField(_("已使用次数"), default=0)
    max_uses = models.PositiveIntegerField(_("最多使用次数"), default=20)

    class Meta:
        verbose_name = _("客户链接")
        verbose_name_plural = _("客户链接")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.application_id}"

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now() and self.uses < self.max_uses


class Notice(models.Model):
    """A message to the customer about their application, shown on the application; its SMS is a
    Delivery the worker sends (the status follows the delivery)."""

    class Channel(models.TextChoices):
        SMS = "sms", _("短信")
        EMAIL = "email", _("邮件")

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")

    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="notices")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="notices")
    channel = models.CharField(_("渠道"), max_length=10, choices=Channel.choices, default=Channel.SMS)
    event = models.CharField(_("事件"), max_length=30)
    text = models.TextField(_("内容"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    delivery = models.OneToOneField(
        "notifications.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="notice"
    )

    class Meta:
        verbose_name = _("客户通知")
        verbose_name_plural = _("客户通知")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="notice_status")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.event}"


class SurveyResponse(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="surveys")
    application = models.ForeignKey(LoanApplication, on_delete=models.CASCADE, related_name="surveys")
    link = models.OneToOneField(CustomerLink, on_delete=models.PROTECT, related_name="response")
    score = models.PositiveSmallIntegerField(
        _("满意度"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("意见"), blank=True)
    submitted_at = models.DateTimeField(_("提交时间"), default=timezone.now)

    class Meta:
        verbose_name = _("满意度调查")
        verbose_name_plural = _("满意度调查")
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.score}"


class ProblemReport(models.Model):
    """A customer's problem (from the survey or logged by staff), tracked until resolved."""

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        RESOLVED = "resolved", _("已解决")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="problems")
    application = models.ForeignKey(
        LoanApplication, null=True, blank=True, on_delete=models.CASCADE, related_name="problems"
    )
    source = models.CharField(_("来源"), max_length=20, default="survey")
    description = models.TextField(_("问题描述"))
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("负责人"),
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    department = models.ForeignKey("accounts.Department", on_delete=models.PROTECT, related_name="+")
    resolution = models.TextField(_("处理结果"), blank=True)
    opened_at = models.DateTimeField(_("提出时间"), default=timezone.now)
    resolved_at = models.DateTimeField(_("解决时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("客户问题")
        verbose_name_plural = _("客户问题")
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return self.description[:30]


class AssignmentMethod(models.TextChoices):
    REGION = "region", _("按地区")
    ROUND_ROBIN = "round_robin", _("轮流分配")
    LEAST_LOAD = "least_load", _("按在办量最少")


class AssignmentRule(models.Model):
    """How new leads of a department are given to its salespeople (线索分配)."""

    department = models.OneToOneField(
        "accounts.Department",
        verbose_name=_("部门"),
        on_delete=models.CASCADE,
        related_name="assignment_rule",
    )
    method = models.CharField(
        _("分配方式"), max_length=20, choices=AssignmentMethod.choices, default=AssignmentMethod.LEAST_LOAD
    )
    is_active = models.BooleanField(_("启用"), default=True)
    # Round-robin pointer: the last user given a lead.
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("线索分配规则")
        verbose_name_plural = _("线索分配规则")

    def __str__(self) -> str:
        return f"{self.department}: {self.get_method_display()}"
