"""Export jobs (导出任务): one customer export in the background, its progress and its private file."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ExportFormat(models.TextChoices):
    XLSX = "xlsx", _("Excel（.xlsx）")
    CSV = "csv", _("CSV（.csv）")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("导出中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    EXPIRED = "expired", _("已过期")  # the file was removed by the clean-up


class ExportJob(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导出人"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    format = models.CharField(_("格式"), max_length=10, choices=ExportFormat.choices)
    # The customer list's query-string parameters (q, type, stage, …) the export was asked with.
    filters = models.JSONField(_("筛选条件"), default=dict, blank=True)
    reveal = models.BooleanField(_("含完整敏感信息"), default=False)
    status = models.CharField(
        _("状态"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_done = models.PositiveIntegerField(_("已导出行数"), default=0)
    rows_total = models.PositiveIntegerField(_("总行数"), default=0)
    # Under DATA_DIR/exports, never under a served folder; read only through the owner-checked view.
    file_path = models.CharField(max_length=500, blank=True, editable=False)
    file_size = models.PositiveBigIntegerField(_("文件大小"), default=0)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    error = models.TextField(_("错误信息"), blank=True)

    class Meta:
        verbose_name = _("导出任务")
        verbose_name_plural = _("导出任务")
        ordering = ["-id"]
        indexes = [models.Index(fields=["created_by", "-id"], name="exportjob_user_recent")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.format}"

    @property
    def is_running(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))

    @property
    def download_name(self) -> str:
        stamp = timezone.localtime(self.created_at).strftime("%Y%m%d-%H%M")
        return f"客户导出-{stamp}-{self.pk}.{self.format}"
