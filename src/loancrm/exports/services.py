"""Customer export: the file (for the background job and the CLI), the job, its download and clean-up.

The rows are exactly the customer list's for the same filters and user (`customers.selectors.customer_list`
with the list's own filter parsing), so an export never holds more than the user sees on screen.
"""

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.customers.selectors import customer_list

from .models import ExportFormat, ExportJob, ExportStatus
from .sheet import VALUE_FIELDS, XLSX_MAX_ROWS, too_large_message, write_sheet

logger = logging.getLogger(__name__)

CHUNK = 2000  # rows fetched per database round trip, and rows between two progress updates
KEEP_DAYS = 7
# Exports one user may have waiting or running at once (a stuck one stops counting after an hour).
RUNNING_LIMIT = 3
# The customer list's query-string parameters (customers.views.filters_from); nothing else is kept.
FILTER_KEYS = ("q", "type", "stage", "channel", "owner", "department", "region", "from", "to", "follow", "tag",
               "sort")  # fmt: skip


def clean_filters(params: Mapping[str, Any]) -> dict[str, str]:
    """The list's filter parameters from a dict or QueryDict (one value each; page and unknown keys dropped)."""
    out = {}
    for key in FILTER_KEYS:
        value = params.get(key)
        if value not in (None, ""):
            out[key] = str(value).strip()[:200]
    return {k: v for k, v in out.items() if v}


def _customers(by: User, filters: Mapping[str, Any]):
    from loancrm.customers.views import filters_from  # the list's own parsing of its query string

    qs = customer_list(by, filters_from(clean_filters(filters)))
    # The list's order, made total: rows sharing a name (or amount, date …) come newest first, so that
    # PostgreSQL and SQLite write them in the same, repeatable order.
    ordering = list(qs.query.order_by)
    if not {"id", "-id", "pk", "-pk"} & set(ordering):
        qs = qs.order_by(*ordering, "-id")
    return qs


def _check(by: User, *, fmt: str, reveal: bool) -> None:
    require_perm(by, Perm.CUSTOMER_EXPORT)
    if reveal:
        # Unmasked values only for roles that may reveal them (on screen: customer_reveal); the rows are
        # the user's own scope, so holding the permission is holding it for every exported customer.
        require_perm(by, Perm.CUSTOMER_REVEAL)
    if fmt not in ExportFormat.values:
        raise ValidationError({"format": [_("不支持的导出格式：%(fmt)s") % {"fmt": fmt}]})


def exports_dir() -> Path:
    """Private folder for export files (never under static or media; served only by the download view)."""
    path = Path(settings.DATA_DIR) / "exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def export_customers_to_file(
    *,
    by: User,
    filters: Mapping[str, Any],
    fmt: str,
    reveal: bool,
    path: Path | str,
    progress: Callable[[int], Any] | None = None,
    job: ExportJob | None = None,
) -> int:
    """Write the customers `by` sees with `filters` to `path` as .xlsx or .csv; answers the row count.

    Streams: rows are read `CHUNK` at a time and written as they come. The file appears at `path` only
    when complete (written next to it, then renamed). The export is audited once it is written, with the
    filters, format, row count and whether sensitive fields were revealed.
    """
    _check(by, fmt=fmt, reveal=reveal)
    filters = clean_filters(filters)
    path = Path(path)
    rows = _customers(by, filters).values_list(*VALUE_FIELDS).iterator(chunk_size=CHUNK)
    partial = path.with_name(path.name + ".part")
    try:
        count = write_sheet(partial, fmt, rows, reveal=reveal, progress=progress, every=CHUNK)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    with transaction.atomic():
        audit_record(
            action=Action.EXPORT,
            actor=by,
            obj=job,
            extra={"filters": filters, "format": fmt, "rows": count, "revealed": reveal},
        )
    return count


def export_job_create(*, by: User, filters: Mapping[str, Any], fmt: str, reveal: bool) -> ExportJob:
    """Queue an export of the customer list as `by` sees it with `filters` (the list's query parameters).

    Refused (and the refusal audited) without the export permission, or when `reveal` is asked by a role
    that may not see unmasked values. The export itself is audited when its file has been written.
    """
    _check(by, fmt=fmt, reveal=reveal)
    busy = ExportJob.objects.filter(
        created_by=by,
        status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING],
        created_at__gte=timezone.now() - timedelta(hours=1),
    ).count()
    if busy >= RUNNING_LIMIT:
        raise ValidationError(_("您已有 %(n)s 个导出正在进行，请等它们完成后再导出") % {"n": busy})
    with transaction.atomic():
        job = ExportJob.objects.create(
            created_by=by, format=fmt, filters=clean_filters(filters), reveal=reveal
        )
        from .tasks import run_export

        transaction.on_commit(lambda: run_export(job.pk))
    return job


def _update(job_id: int, **fields) -> None:
    ExportJob.objects.filter(pk=job_id).update(**fields)  # a plain UPDATE: the page polls these


def export_job_run(*, job_id: int) -> None:
    """Write a queued job's file now, in this process (the worker task), updating its progress."""
    # Claimed with one conditional UPDATE: a task delivered twice (or to two workers) exports once.
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=timezone.now(), rows_done=0, error=""
    )
    if not claimed:
        return
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    path = exports_dir() / f"{job.pk}-{secrets.token_hex(8)}.{job.format}"
    try:
        by = job.created_by
        _check(by, fmt=job.format, reveal=job.reveal)  # the role may have changed since it was queued
        total = _customers(by, job.filters).count()
        if job.format == ExportFormat.XLSX and total > XLSX_MAX_ROWS:
            raise ValidationError(too_large_message())
        _update(job_id, rows_total=total)
        count = export_customers_to_file(
            by=by,
            filters=job.filters,
            fmt=job.format,
            reveal=job.reveal,
            path=path,
            progress=lambda done: _update(job_id, rows_done=done),
            job=job,
        )
    except (PermissionDenied, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            message = "；".join(exc.messages)
        else:
            message = _("没有权限：%(perm)s") % {"perm": exc}
        _update(job_id, status=ExportStatus.FAILED, error=message, finished_at=timezone.now())
        return
    except Exception as exc:
        logger.exception("export job %s failed", job_id)
        path.unlink(missing_ok=True)
        _update(
            job_id,
            status=ExportStatus.FAILED,
            error=_("导出失败：%(error)s") % {"error": exc.__class__.__name__},
            finished_at=timezone.now(),
        )
        return
    path.chmod(0o600)
    _update(
        job_id,
        status=ExportStatus.DONE,
        rows_done=count,
        rows_total=count,
        file_path=str(path),
        file_size=path.stat().st_size,
        finished_at=timezone.now(),
    )


def export_job_open(*, by: User, job: ExportJob) -> IO[bytes]:
    """The finished file of `by`'s own job, for download; audited. 404 for anyone else's or no file."""
    if job.created_by_id != by.pk:
        raise Http404
    require_perm(by, Perm.CUSTOMER_EXPORT)
    if job.reveal:
        require_perm(by, Perm.CUSTOMER_REVEAL)
    if job.status != ExportStatus.DONE or not job.file_path:
        raise Http404
    try:
        handle = open(job.file_path, "rb")  # noqa: SIM115 (FileResponse closes it)
    except FileNotFoundError:
        raise Http404 from None
    with transaction.atomic():
        audit_record(
            action=Action.EXPORT_DOWNLOAD,
            actor=by,
            obj=job,
            extra={"format": job.format, "rows": job.rows_done, "revealed": job.reveal},
        )
    return handle


def export_jobs_cleanup(*, older_than_days: int = KEEP_DAYS) -> int:
    """Delete the files of exports older than `older_than_days` (their jobs stay, marked expired)."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    removed = 0
    for job in ExportJob.objects.filter(created_at__lt=cutoff).exclude(file_path="").only("pk", "file_path"):
        Path(job.file_path).unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.DONE).update(status=ExportStatus.EXPIRED)
        ExportJob.objects.filter(pk=job.pk).update(file_path="")
        removed += 1
    return removed
