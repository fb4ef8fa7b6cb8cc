from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DataSource(models.TextChoices):
    MANUAL = "manual", _("手工录入")
    IMPORT = "import", _("导入")
    API = "api", _("API")
    OCR = "ocr", _("OCR 识别")
    DEMO = "demo", _("演示数据")


class Customer(models.Model):
    """A customer of the agency. The foundation keeps the fields scope needs; the customer center adds the rest."""

    name = models.CharField(_("姓名"), max_length=100, db_index=True)
    phone = models.CharField(_("手机号码"), max_length=20, blank=True, db_index=True)
    current_address = models.CharField(_("现居地址"), max_length=200, blank=True)
    data_source = models.CharField(
        _("数据来源"), max_length=20, choices=DataSource.choices, default=DataSource.MANUAL, editable=False
    )
    # No single-column FK indexes: the composite indexes below lead with these columns.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("所属业务员"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,
    )
    department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("所属部门"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A default rather than auto_now_add so that imports and demo data can keep their original dates.
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(_("更新时间"), default=timezone.now, editable=False)

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
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Set here rather than auto_now, so that bulk loads (demo data, imports) can keep original times.
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)

    @property
    def masked_phone(self) -> str:
        p = self.phone
        return f"{p[:3]}****{p[-4:]}" if len(p) >= 11 else p
