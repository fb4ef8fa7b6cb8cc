from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from loancrm.core.crypto import EncryptedTextField

from .validators import mask_bank_card, mask_id_number, mask_phone

MONEY = {"max_digits": 14, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


class DataSource(models.TextChoices):
    MANUAL = "manual", _("手工录入")
    IMPORT = "import", _("导入")
    API = "api", _("API")
    OCR = "ocr", _("OCR 识别")
    DEMO = "demo", _("演示数据")


class CustomerType(models.TextChoices):
    INDIVIDUAL = "individual", _("个人")
    ENTERPRISE = "enterprise", _("企业")


class IdType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("居民身份证")
    PASSPORT = "passport", _("护照")
    HK_MACAO_PERMIT = "hk_macao_permit", _("港澳居民来往内地通行证")
    TAIWAN_PERMIT = "taiwan_permit", _("台湾居民来往大陆通行证")
    FOREIGN_PR = "foreign_pr", _("外国人永久居留身份证")


class Gender(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class Tag(models.Model):
    name = models.CharField(_("标签"), max_length=30, unique=True)
    color = models.CharField(_("颜色"), max_length=20, default="secondary")

    class Meta:
        verbose_name = _("标签")
        verbose_name_plural = _("标签")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    """One customer of the agency: the single source of truth (seed 000, 002, 003 第一步)."""

    customer_no = models.CharField(_("客户编号"), max_length=20, unique=True, editable=False)
    customer_type = models.CharField(
        _("客户类型"), max_length=20, choices=CustomerType.choices, default=CustomerType.INDIVIDUAL
    )
    name = models.CharField(_("姓名/名称"), max_length=100, db_index=True)

    # Individual: identity (证件号码 encrypted; the blind index finds exact matches and duplicates).
    gender = models.CharField(_("性别"), max_length=10, choices=Gender.choices, blank=True)
    id_type = models.CharField(_("证件类型"), max_length=20, choices=IdType.choices, blank=True)
    id_number = EncryptedTextField(_("证件号码"), blank=True)
    id_number_bidx = models.CharField(max_length=32, blank=True, editable=False)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    ethnicity = models.CharField(_("民族"), max_length=20, blank=True)
    id_issuer = models.CharField(_("签发机关"), max_length=100, blank=True)
    id_valid_from = models.DateField(_("证件有效期起"), null=True, blank=True)
    # Empty with a start date means 长期 (valid for life).
    id_valid_until = models.DateField(_("证件有效期至"), null=True, blank=True, help_text=_("长期有效请留空"))
    marital_status = models.CharField(_("婚姻状况"), max_length=40, blank=True)
    education = models.CharField(_("学历"), max_length=40, blank=True)
    household_address = models.CharField(_("户籍地址"), max_length=200, blank=True)
    current_address = models.CharField(_("现居地址"), max_length=200, blank=True)

    # Contact and social.
    phone = EncryptedTextField(_("手机号码"), blank=True)
    phone_bidx = models.CharField(max_length=32, blank=True, editable=False)
    backup_phone = EncryptedTextField(_("备用联系方式"), blank=True)
    wechat = models.CharField(_("微信"), max_length=60, blank=True)
    email = models.CharField(_("邮箱"), max_length=120, blank=True)
    # Seed 003: customer messages respect an opt-out (还款提醒、材料催交 are not sent to them either).
    message_opt_out = models.BooleanField(_("拒收通知短信/邮件"), default=False)
    occupation = models.CharField(_("职业"), max_length=60, blank=True)
    employer = models.CharField(_("单位名称"), max_length=120, blank=True)
    employer_address = models.CharField(_("单位地址"), max_length=200, blank=True)
    employer_phone = models.CharField(_("单位电话"), max_length=30, blank=True)
    monthly_income = models.DecimalField(_("月收入（元）"), null=True, blank=True, **MONEY)
    social_security = models.CharField(_("社保/公积金缴纳情况"), max_length=40, blank=True)

    # Credit and assets (征信报告 and asset proofs are attachments).
    credit_query_count = models.PositiveSmallIntegerField(_("近期征信查询次数"), null=True, blank=True)
    overdue_record = models.TextField(_("逾期记录"), blank=True)
    debt_summary = models.TextField(_("负债情况"), blank=True)
    debt_amount = models.DecimalField(_("负债总额（元）"), null=True, blank=True, **MONEY)
    bank_account = EncryptedTextField(_("银行账户"), blank=True)
    bank_name = models.CharField(_("开户行"), max_length=100, blank=True)

    # Loan intention.
    loan_type = models.CharField(_("贷款类型"), max_length=40, blank=True)
    expected_amount = models.DecimalField(_("期望金额（元）"), null=True, blank=True, **MONEY)
    expected_term_months = models.PositiveSmallIntegerField(
        _("期望期限（月）"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(360)]
    )
    loan_purpose = models.CharField(_("资金用途"), max_length=200, blank=True)
    acceptable_rate_min = models.DecimalField(
        _("可接受年利率下限（%）"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("36"))],
    )  # fmt: skip
    acceptable_rate_max = models.DecimalField(
        _("可接受年利率上限（%）"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("36"))],
    )  # fmt: skip

    # Enterprise.
    uscc = models.CharField(_("统一社会信用代码"), max_length=18, blank=True)
    legal_representative = models.CharField(_("法定代表人"), max_length=50, blank=True)
    registered_capital = models.DecimalField(_("注册资本（元）"), null=True, blank=True, **MONEY)
    established_date = models.DateField(_("成立日期"), null=True, blank=True)
    industry = models.CharField(_("行业"), max_length=40, blank=True)
    business_address = models.CharField(_("经营地址"), max_length=200, blank=True)

    # Follow-up.
    channel = models.CharField(_("来源渠道"), max_length=40, blank=True)
    stage = models.CharField(_("当前阶段"), max_length=40, blank=True, default="new")
    # No single-column FK indexes: the composite indexes below lead with these columns.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("所属业务员"),
        on_delete=models.PROTECT,
        related_name="customers",
        null=True,
        blank=True,
        db_index=False,
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("所属部门"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,
    )
    next_follow_up_at = models.DateTimeField(_("下次跟进时间"), null=True, blank=True)
    last_follow_up_at = models.DateTimeField(_("最近跟进时间"), null=True, blank=True, editable=False)
    pooled_at = models.DateTimeField(_("进入公海时间"), null=True, blank=True, editable=False)

    # Seed 002: preferences and notes.
    product_preferences = models.JSONField(_("产品偏好"), default=list, blank=True)
    special_notes = models.TextField(_("特殊备注"), blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("标签"), blank=True, related_name="customers")
    # Values an import or API brought that no dictionary knows yet: {"channel": "新渠道"}; an admin maps them.
    unmapped_values = models.JSONField(_("待映射的值"), default=dict, blank=True, editable=False)

    data_source = models.CharField(
        _("数据来源"), max_length=20, choices=DataSource.choices, default=DataSource.MANUAL, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # no list filters by it; users are deactivated, never deleted
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("最后修改人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # no list filters by it; users are deactivated, never deleted
    )
    # A default rather than auto_now_add so that imports and demo data can keep their original dates.
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now, editable=False)
    # Optimistic locking: a save based on an older version is refused (no silent overwrite).
    version = models.PositiveIntegerField(_("版本"), default=1, editable=False)

    history = HistoricalRecords(
        verbose_name=_("客户历史版本"),
        excluded_fields=["id_number_bidx", "phone_bidx", "updated_at", "version", "last_follow_up_at"],
        # Versions are read per customer (by id) only: the record's other indexes would cost every
        # insert (an import writes one version per customer) and serve no query.
        no_db_index=["name", "created_at", "created_by", "updated_by", "department", "owner", "customer_no"],
    )

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["-id"]
        indexes = [
            # The list's scoped, newest-first pages stay index-only at a million rows.
            models.Index(fields=["owner", "-id"], name="customer_owner_recent"),
            models.Index(fields=["department", "-id"], name="customer_dept_recent"),
            models.Index(fields=["owner", "created_at"], name="customer_owner_created"),
            # owner last: the team ranking (group by owner this month) is answered from the index alone.
            models.Index(fields=["department", "created_at", "owner"], name="customer_dept_created"),
            models.Index(fields=["phone_bidx"], name="customer_phone_bidx"),
            models.Index(fields=["id_number_bidx"], name="customer_id_bidx"),
            models.Index(fields=["stage", "-id"], name="customer_stage_recent"),
            # Stage tab counts within a scope are answered from these indexes alone.
            models.Index(fields=["owner", "stage"], name="customer_owner_stage"),
            models.Index(fields=["department", "stage"], name="customer_dept_stage"),
            models.Index(fields=["owner", "next_follow_up_at"], name="customer_owner_due"),
            models.Index(fields=["department", "pooled_at"], name="customer_pool"),
            # The few customers with values no dictionary knows yet, for the admin's mapping page.
            models.Index(fields=["id"], condition=~Q(unmapped_values={}), name="customer_unmapped"),
        ]
        constraints = [
            # The database itself refuses a second record for the same person or company (撞单).
            models.UniqueConstraint(
                fields=["id_number_bidx"], condition=~Q(id_number_bidx=""), name="customer_unique_id_number"
            ),
            models.UniqueConstraint(
                fields=["phone_bidx"], condition=~Q(phone_bidx=""), name="customer_unique_phone"
            ),
            models.UniqueConstraint(fields=["uscc"], condition=~Q(uscc=""), name="customer_unique_uscc"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.customer_no}）" if self.customer_no else self.name

    def save(self, *args, **kwargs) -> None:
        # Set here rather than auto_now, so that bulk loads (demo data, imports) can keep original times.
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)

    @property
    def is_enterprise(self) -> bool:
        return self.customer_type == CustomerType.ENTERPRISE

    @property
    def age(self) -> int | None:
        if not self.birth_date:
            return None
        today = timezone.localdate()
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    @property
    def in_pool(self) -> bool:
        return self.owner_id is None

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_backup_phone(self) -> str:
        return mask_phone(self.backup_phone)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_bank_account(self) -> str:
        return mask_bank_card(self.bank_account)

    @property
    def follow_up_overdue(self) -> bool:
        return bool(self.next_follow_up_at and self.next_follow_up_at < timezone.now())


class FollowUp(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="follow_ups")
    at = models.DateTimeField(_("跟进时间"), default=timezone.now)
    way = models.CharField(_("跟进方式"), max_length=40)
    content = models.TextField(_("跟进内容"))
    next_step = models.CharField(_("下一步计划"), max_length=200, blank=True)
    next_follow_up_at = models.DateTimeField(_("下次跟进时间"), null=True, blank=True)
    stage = models.CharField(_("跟进后阶段"), max_length=40, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("跟进人"), on_delete=models.PROTECT)

    class Meta:
        verbose_name = _("跟进记录")
        verbose_name_plural = _("跟进记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "-at"], name="followup_customer_recent")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.at:%Y-%m-%d %H:%M}"


class RelatedPerson(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="related_persons")
    relation = models.CharField(_("关系"), max_length=40)
    name = models.CharField(_("姓名"), max_length=50)
    phone = EncryptedTextField(_("手机号码"), blank=True)
    id_number = EncryptedTextField(_("证件号码"), blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("关联人")
        verbose_name_plural = _("关联人")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)


class CustomerAsset(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(_("资产类型"), max_length=40)
    description = models.CharField(
        _("描述"), max_length=200, help_text=_("如 金凤区XX小区 120㎡ / 2020款大众朗逸")
    )
    estimated_value = models.DecimalField(_("估值（元）"), null=True, blank=True, **MONEY)
    encumbered = models.BooleanField(_("已抵押"), default=False)

    class Meta:
        verbose_name = _("资产")
        verbose_name_plural = _("资产")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description


class Attachment(models.Model):
    """A file kept outside any served folder; read only through a permission-checked, audited view."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="attachments")
    asset = models.ForeignKey(
        CustomerAsset, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    kind = models.CharField(_("附件类型"), max_length=40)
    original_name = models.CharField(_("文件名"), max_length=200)
    stored_name = models.CharField(max_length=100, unique=True, editable=False)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(_("大小（字节）"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT
    )
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class CustomerTransfer(models.Model):
    """Hand-over record: one row per customer moved (交接), grouped by batch."""

    batch = models.UUIDField(_("批次"), db_index=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="transfers")
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("原因"), max_length=200)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("客户交接记录")
        verbose_name_plural = _("客户交接记录")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_owner_id} → {self.to_owner_id}"


class SavedFilter(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(_("名称"), max_length=50)
    query = models.CharField(_("筛选条件"), max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("常用筛选")
        verbose_name_plural = _("常用筛选")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_filter_unique_name")]

    def __str__(self) -> str:
        return self.name


class Sequence(models.Model):
    """Counters that never go back (customer numbers are never reused, even after a delete)."""

    name = models.CharField(max_length=50, primary_key=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("编号序列")
        verbose_name_plural = _("编号序列")

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
