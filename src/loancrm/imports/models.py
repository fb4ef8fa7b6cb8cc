"""Import batches (导入批次): one uploaded sheet, its column mapping, options, progress, counts and undo."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loancrm.core.crypto import EncryptedTextField


class OnDuplicate(models.TextChoices):
    SKIP = "skip", _("跳过（保留系统中的客户）")
    UPDATE_EMPTY = "update_empty", _("只补充系统中为空的字段")
    OVERWRITE = "overwrite", _("用表格中的值覆盖")


class OnError(models.TextChoices):
    SKIP_ROWS = "skip_rows", _("导入正确的行，出错的行单独列出")
    ALL_OR_NOTHING = "all_or_nothing", _("有任何一行出错就全部不导入")


class BatchStatus(models.TextChoices):
    UPLOADED = "uploaded", _("待设置")
    QUEUED = "queued", _("排队中")
    VALIDATING = "validating", _("校验中")
    VALIDATED = "validated", _("已试导入")
    IMPORTING = "importing", _("导入中")
    DONE = "done", _("已导入")
    ROLLED_BACK = "rolled_back", _("有错误，未导入")
    FAILED = "failed", _("失败")
    UNDOING = "undoing", _("撤销中")
    UNDONE = "undone", _("已撤销")


class ImportBatch(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导入人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("上传时间"), default=timezone.now, db_index=True)
    original_name = models.CharField(_("文件名"), max_length=255)
    stored_path = models.CharField(
        max_length=500, editable=False
    )  # under the data dir, never served directly
    file_size = models.PositiveBigIntegerField(_("文件大小"), default=0)
    file_sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    sheet_name = models.CharField(_("工作表"), max_length=100, blank=True)
    header_row = models.PositiveIntegerField(_("表头所在行"), default=1)  # the sheet's own row number
    headers = models.JSONField(_("表头"), default=list)
    mapping = models.JSONField(_("列对应"), default=list)  # per column: customer field or null (not imported)
    # The first data rows as cell texts, read once at upload: the mapping step shows them without
    # opening the file again (an .xlsx is parsed whole to read any row).
    preview = models.JSONField(default=list, blank=True, editable=False)

    on_duplicate = models.CharField(
        _("重复客户"), max_length=20, choices=OnDuplicate.choices, default=OnDuplicate.SKIP
    )
    on_error = models.CharField(
        _("出错的行"), max_length=20, choices=OnError.choices, default=OnError.SKIP_ROWS
    )
    use_owner_column = models.BooleanField(_("按“所属业务员”列分配"), default=True)
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("默认所属业务员"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    status = models.CharField(
        _("状态"), max_length=20, choices=BatchStatus.choices, default=BatchStatus.UPLOADED
    )
    dry_run = models.BooleanField(_("试导入"), default=False)  # what the last/current run is
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)  # estimate while running, exact when finished
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"total", "created", "updated", "skipped_duplicates", "failed", "blank", "flagged"}
    counts = models.JSONField(_("统计"), default=dict)
    errors_sample = models.JSONField(default=list)  # first rows' errors: [{"row", "field", "message"}]
    errors_path = models.CharField(max_length=500, blank=True, editable=False)  # the error workbook
    message = models.TextField(_("说明"), blank=True)  # why a run failed, in Chinese
    undone_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    undo_counts = models.JSONField(_("撤销统计"), default=dict, blank=True)  # {"deleted", "restored", "kept"}
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name}"

    @property
    def percent(self) -> int:
        if self.status in (BatchStatus.DONE, BatchStatus.VALIDATED, BatchStatus.ROLLED_BACK):
            return 100
        return min(99, int(self.rows_done * 100 / self.rows_total)) if self.rows_total else 0

    @property
    def is_running(self) -> bool:
        return self.status in (
            BatchStatus.QUEUED,
            BatchStatus.VALIDATING,
            BatchStatus.IMPORTING,
            BatchStatus.UNDOING,
        )

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def mapped_count(self) -> int:
        return sum(1 for m in self.mapping if m)


class ImportRecord(models.Model):
    """What a batch did to one customer, so the whole batch can be undone: updates (with the values
    before), and creations by batches imported before ImportCreatedRange."""

    CREATED, UPDATED = "created", "updated"
    # No index of its own: (batch, action) below serves every lookup by batch.
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="records", db_index=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10)
    # For updates: the changed fields' previous values as JSON (encrypted: they may be ID numbers).
    before = EncryptedTextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["batch", "action"], name="importrecord_batch")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.action}:{self.customer_id}"


class ImportCreatedRange(models.Model):
    """Customers a batch created, as runs of consecutive ids (ids [first_id, last_id]): one row per
    chunk of a large import instead of one per customer. Plain numbers, not foreign keys, so that a
    customer deleted since takes nothing else with it; undo reads what is still there."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="created_ranges")
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.first_id}-{self.last_id}"


class ImportTemplate(models.Model):
    """A saved column mapping: header (normalised) → field, reused when the same sheet layout comes again."""

    name = models.CharField(_("模板名称"), max_length=60)
    mapping = models.JSONField(_("列对应"), default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("导入模板")
        verbose_name_plural = _("导入模板")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "name"], name="importtemplate_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
