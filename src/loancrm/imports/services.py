"""Every write of the importer: upload, mapping, runs (dry or real), templates and undo.

A run reads the sheet in chunks; every row goes through `customers.cleaning.clean_customer_data` (the
form's and API's validation), the duplicate rules of customers (ID number, phone and USCC blind
indexes / codes) and `customers.services` for rows, history and audit. The whole run is one
transaction: killed half-way it leaves nothing, and running it again does the whole job. A dry run is
the same run rolled back at the end, so it reports exactly what the import would do.
"""

import gc
import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from queue import Empty, Full
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import users_in_scope
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.core.bulk import bulk_insert
from loancrm.core.crypto import blind_index
from loancrm.customers import numbers
from loancrm.customers.cleaning import clean_customer_data, dictionary_lookups
from loancrm.customers.fields import SENSITIVE
from loancrm.customers.models import Customer, DataSource
from loancrm.customers.selectors import customers_visible_to
from loancrm.customers.services import (
    CustomerEncoder,
    EncodedCustomer,
    customer_merge,
    customer_restore_fields,
    customer_row,
    customers_insert_encoded,
)

from . import reading
from .columns import BY_FIELD, IMPORTABLE, KEY, OWNER, normalise_header
from .errors_workbook import ErrorWorkbook
from .models import (
    BatchStatus,
    ImportBatch,
    ImportCreatedRange,
    ImportRecord,
    ImportTemplate,
    OnDuplicate,
    OnError,
)
from .values import CellError, converter, is_blank_row

log = logging.getLogger(__name__)

CHUNK = 2000
PARALLEL_MIN_ROWS = 20_000  # below this, forking helper processes costs more than it saves
READERS = 2  # helper processes preparing rows (at most one per core)
MAX_UPLOAD_BYTES = 500 * 1024 * 1024  # through the browser; the CLI takes any size (a 1M-row CSV is ~270 MB)
ERROR_SAMPLE = 200
STALE_AFTER_SECONDS = 300  # a run whose progress has not moved for this long died with its process
IMPORTABLE_FIELDS = {c.field for c in IMPORTABLE}


def batch_dir(batch: ImportBatch) -> Path:
    return Path(settings.DATA_DIR) / "imports" / str(batch.pk)


# --- upload and settings ------------------------------------------------------------------------------


def import_batch_create(
    *,
    by: User,
    file: IO[bytes] | Path,
    original_name: str,
    max_bytes: int | None = MAX_UPLOAD_BYTES,
    run_here: bool = False,
) -> ImportBatch:
    """Store the uploaded sheet privately, find its header row and map its columns.

    `run_here`: the caller runs the batch next in this process (the CLI), which then reads the sheet
    loaded here instead of loading it again.
    """
    require_perm(by, Perm.CUSTOMER_IMPORT)
    suffix = Path(original_name).suffix.lower()
    if suffix not in reading.SPREADSHEET_SUFFIXES | reading.CSV_SUFFIXES:
        raise ValidationError(
            {
                "file": [
                    _("不支持的文件类型“%(suffix)s”：请上传 .xlsx、.xls 或 .csv 文件。")
                    % {"suffix": suffix or "?"}
                ]
            }
        )
    with transaction.atomic():
        batch = ImportBatch.objects.create(created_by=by, original_name=original_name[:255], default_owner=by)
    folder = batch_dir(batch)
    shutil.rmtree(folder, ignore_errors=True)  # left over from a database that was reset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"source{suffix}"
    digest, size = hashlib.sha256(), 0
    source = open(file, "rb") if isinstance(file, Path) else file  # noqa: SIM115 - closed below
    try:
        with open(path, "wb") as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    break
                digest.update(chunk)
                out.write(chunk)
    finally:
        if isinstance(file, Path):
            source.close()
    try:
        if max_bytes is not None and size > max_bytes:
            raise reading.SheetError(
                _("文件超过 %(mb)s MB，请拆分后导入，或由管理员用 loancrm import 命令导入。")
                % {"mb": max_bytes >> 20}
            )
        if size == 0:
            raise reading.SheetError(_("文件是空的。"))
        info = reading.inspect(path, original_name, keep=run_here)
    except reading.SheetError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        batch.delete()
        raise ValidationError({"file": [str(exc)]}) from None
    mapping = info.mapping
    template = _matching_template(by, info.headers)
    if template is not None:
        mapping = [template.mapping.get(normalise_header(h)) for h in info.headers]
    ImportBatch.objects.filter(pk=batch.pk).update(
        stored_path=str(path),
        file_size=size,
        file_sha256=digest.hexdigest(),
        sheet_name=info.sheet_name,
        header_row=info.header_row,
        headers=info.headers,
        mapping=mapping,
        rows_total=info.estimated_rows,
        preview=info.preview,
    )
    batch.refresh_from_db()
    return batch


def _matching_template(by: User, headers: list[str]) -> ImportTemplate | None:
    keys = {normalise_header(h) for h in headers if normalise_header(h)}
    for template in ImportTemplate.objects.filter(created_by=by).order_by("-created_at"):
        if keys and keys <= set(template.mapping):
            return template
    return None


def _require_uploader(by: User, batch: ImportBatch) -> None:
    # The run acts as its uploader (their scope, their owners): nobody else may change or start it.
    if batch.created_by_id != by.pk:
        raise ValidationError({"__all__": [_("只有上传这个文件的人可以修改设置和运行导入。")]})


def _validate_mapping(batch: ImportBatch, mapping: list[str | None]) -> list[str | None]:
    if len(mapping) != len(batch.headers):
        raise ValidationError({"mapping": [_("列对应与表头数量不一致，请重新上传文件。")]})
    clean: list[str | None] = [m or None for m in mapping]
    seen: dict[str, str] = {}
    errors = []
    for header, name in zip(batch.headers, clean, strict=True):
        if name is None:
            continue
        if name not in IMPORTABLE_FIELDS:
            errors.append(_("“%(header)s”对应的字段无效") % {"header": header})
        elif name in seen:
            errors.append(
                _("“%(field)s”同时对应了“%(a)s”和“%(b)s”两列，请只保留一列")
                % {"field": BY_FIELD[name].header, "a": seen[name], "b": header}
            )
        else:
            seen[name] = header
    if "name" not in seen:
        errors.append(_("请为“姓名”选择一列：没有姓名的客户无法导入"))
    if errors:
        raise ValidationError({"mapping": errors})
    return clean


def import_batch_configure(
    *,
    by: User,
    batch: ImportBatch,
    mapping: list[str | None],
    on_duplicate: str,
    on_error: str,
    use_owner_column: bool,
    default_owner: User | None,
) -> ImportBatch:
    require_perm(by, Perm.CUSTOMER_IMPORT)
    _require_uploader(by, batch)
    if batch.is_running and not is_stale(batch):
        raise ValidationError({"__all__": [_("该批次正在处理中，请等它完成。")]})
    if batch.status in (BatchStatus.DONE, BatchStatus.UNDONE):
        raise ValidationError({"__all__": [_("该批次已经导入，不能再修改设置。")]})
    errors: dict[str, list[str]] = {}
    try:
        mapping = _validate_mapping(batch, mapping)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if on_duplicate not in OnDuplicate.values:
        errors["on_duplicate"] = [_("请选择重复客户的处理方式")]
    if on_error not in OnError.values:
        errors["on_error"] = [_("请选择出错行的处理方式")]
    owner = default_owner or by
    if owner.pk != by.pk and not users_in_scope(by).filter(pk=owner.pk, is_active=True).exists():
        errors["default_owner"] = [_("只能分配给自己范围内在职的业务员")]
    if errors:
        raise ValidationError(errors)
    batch.mapping = mapping
    batch.on_duplicate = on_duplicate
    batch.on_error = on_error
    batch.use_owner_column = use_owner_column
    batch.default_owner = owner
    batch.save(update_fields=["mapping", "on_duplicate", "on_error", "use_owner_column", "default_owner"])
    return batch


def import_template_save(*, by: User, batch: ImportBatch, name: str) -> ImportTemplate:
    """Remember this sheet's mapping under a name; the next upload with the same headers uses it."""
    require_perm(by, Perm.CUSTOMER_IMPORT)
    name = name.strip()
    if not name:
        raise ValidationError({"name": [_("请填写模板名称")]})
    mapping = {
        normalise_header(h): f
        for h, f in zip(batch.headers, batch.mapping, strict=False)
        if normalise_header(h)
    }
    template, _created = ImportTemplate.objects.update_or_create(
        created_by=by, name=name[:60], defaults={"mapping": mapping, "created_at": timezone.now()}
    )
    return template


def import_template_apply(*, by: User, batch: ImportBatch, template: ImportTemplate) -> ImportBatch:
    require_perm(by, Perm.CUSTOMER_IMPORT)
    _require_uploader(by, batch)
    batch.mapping = [template.mapping.get(normalise_header(h)) for h in batch.headers]
    batch.save(update_fields=["mapping"])
    return batch


def import_template_delete(*, by: User, template: ImportTemplate) -> None:
    require_perm(by, Perm.CUSTOMER_IMPORT)
    template.delete()


# --- running ------------------------------------------------------------------------------------------


def is_stale(batch: ImportBatch) -> bool:
    """A run marked as running whose process is gone (its progress file stopped moving)."""
    if not batch.is_running or batch.status == BatchStatus.UNDOING:
        return False
    progress = batch_dir(batch) / "progress.json"
    last = (
        progress.stat().st_mtime if progress.exists() else (batch.started_at or batch.created_at).timestamp()
    )
    return timezone.now().timestamp() - last > STALE_AFTER_SECONDS


def import_batch_start(*, by: User, batch: ImportBatch, dry_run: bool) -> ImportBatch:
    """Queue a run in the background (the worker picks it up); progress shows on the batch page."""
    require_perm(by, Perm.CUSTOMER_IMPORT)
    _require_uploader(by, batch)
    if batch.is_running and not is_stale(batch):
        raise ValidationError({"__all__": [_("该批次正在处理中，请等它完成。")]})
    if batch.status in (BatchStatus.DONE, BatchStatus.UNDONE):
        raise ValidationError({"__all__": [_("该批次已经导入过了。")]})
    _validate_mapping(batch, batch.mapping)
    # Conditional: of two clicks at once only one queues a run.
    startable = [
        s for s in BatchStatus.values if s not in (BatchStatus.DONE, BatchStatus.UNDONE, BatchStatus.UNDOING)
    ]
    if not batch.is_running:
        startable = [
            s
            for s in startable
            if s not in (BatchStatus.QUEUED, BatchStatus.VALIDATING, BatchStatus.IMPORTING)
        ]
    if not ImportBatch.objects.filter(pk=batch.pk, status=batch.status, status__in=startable).update(
        status=BatchStatus.QUEUED, dry_run=dry_run, rows_done=0, started_at=timezone.now()
    ):
        raise ValidationError({"__all__": [_("该批次正在处理中，请等它完成。")]})
    (batch_dir(batch) / "progress.json").unlink(missing_ok=True)  # staleness counts from this queueing
    from .tasks import run_import

    transaction.on_commit(lambda: run_import(batch.pk, dry_run))
    batch.refresh_from_db()
    return batch


class _Rollback(Exception):
    """Leaves the run's transaction so that nothing it wrote stays."""


@dataclass
class _Candidate:
    row: int
    cells: list
    data: dict[str, Any] | None
    keys: list[tuple[str, str]]
    owner_id: int
    needs_match: bool = False  # masked values only: may update the customer its number names, never create
    # The new customer's row, encrypted and audited in the preparing process; used when it is new.
    encoded: EncodedCustomer | None = None
    flagged: bool = False  # a value no dictionary knows was kept for an admin to map


@dataclass
class _Run:
    batch: ImportBatch
    by: User
    dry_run: bool
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ["total", "created", "updated", "skipped_duplicates", "failed", "blank", "flagged"], 0
        )
    )
    errors_sample: list[dict] = field(default_factory=list)
    rows_done: int = 0

    def __post_init__(self):
        batch = self.batch
        self.pairs = [(i, f) for i, f in enumerate(batch.mapping) if f]
        self.owner_col = next((i for i, f in self.pairs if BY_FIELD[f].kind == OWNER), None)
        self.key_col = next((i for i, f in self.pairs if BY_FIELD[f].kind == KEY), None)
        self.pairs = [(i, f) for i, f in self.pairs if BY_FIELD[f].kind not in (OWNER, KEY)]
        self.default_owner = batch.default_owner or self.by
        self.owners = self._owner_lookup() if batch.use_owner_column and self.owner_col is not None else {}
        self.converters = [(i, f, converter(f)) for i, f in self.pairs]
        self.users = {u.pk: u for u in [self.default_owner, *self.owners.values()]}
        self.reason = _("导入批次 #%(id)s") % {"id": batch.pk}
        self.errors = ErrorWorkbook(batch_dir(batch) / "errors.xlsx", batch.headers)
        self.pending: list[_Candidate] = []
        self.pending_keys: set[tuple[str, str]] = set()
        self.numbers: Iterator[str] = iter(())
        self.now = timezone.now()
        self.progress_path = batch_dir(batch) / "progress.json"
        self.lookups = dictionary_lookups()
        self.encoder = CustomerEncoder()
        self.may_update = batch.on_duplicate != OnDuplicate.SKIP  # updates need the cleaned values

    def _owner_lookup(self) -> dict[str, User]:
        people = list(users_in_scope(self.by).filter(is_active=True).select_related("department"))
        by_name: dict[str, list[User]] = {}
        for u in people:
            by_name.setdefault(u.display_name, []).append(u)
        lookup = {name: users[0] for name, users in by_name.items() if len(users) == 1}
        lookup.update({u.username: u for u in people})
        return lookup

    # Each failed row: counted, sampled for the page, copied as it was into the error workbook.
    def fail(self, row: int, cells: list, errors: dict[str, list[str]]) -> None:
        self.counts["failed"] += 1
        parts = []
        for name, messages in errors.items():
            label = BY_FIELD[name].header if name in BY_FIELD else ""
            for message in messages:
                parts.append(f"{label}：{message}" if label else message)
                if len(self.errors_sample) < ERROR_SAMPLE:
                    self.errors_sample.append({"row": row, "field": label, "message": message})
        self.errors.add(row, cells, "；".join(parts))

    def execute(self) -> None:
        with paused_gc(), closing(self.prepared_chunks()) as chunks:  # closed: helpers stop on failure
            for size, entries in chunks:
                self.chunk(entries)
                self.rows_done += size
                self._progress()
                gc.collect(1)  # only this chunk's young objects: cheap, and no cycle outlives a chunk
            self.flush()

    def prepared_chunks(self) -> Iterator[tuple[int, list[tuple]]]:
        """(rows read, prepared entries) per chunk, in the sheet's order — from helper processes for
        large sheets.

        Reading cells, cleaning, encrypting and encoding rows (the CPU part) runs in forked processes,
        each preparing every other chunk, while this one checks duplicates and writes (the database
        part); on two cores the three overlap. A spreadsheet is loaded once, before forking: the
        helpers read the same loaded sheet.
        """
        path = Path(self.batch.stored_path)
        rows = reading.data_rows(path, self.batch.original_name, self.batch.header_row)
        if self.batch.rows_total < PARALLEL_MIN_ROWS or "fork" not in mp.get_all_start_methods():
            while chunk := list(islice(rows, CHUNK)):
                yield len(chunk), self.prepare_chunk(chunk)
            return
        reading.open_rows(path, self.batch.original_name, keep=True)
        context = mp.get_context("fork")
        helpers = max(1, min(READERS, (os.cpu_count() or 1)))
        queues = [context.Queue(maxsize=3) for _i in range(helpers)]
        children = [
            context.Process(target=_produce, args=(self, queue, os.getpid(), k, helpers), daemon=True)
            for k, queue in enumerate(queues)
        ]
        for child in children:
            child.start()
        try:
            for index in itertools.count():
                queue, child = queues[index % helpers], children[index % helpers]
                while True:
                    try:
                        item = queue.get(timeout=5)
                        break
                    except Empty:
                        if not child.is_alive():
                            raise RuntimeError("import reader process died") from None
                if item is None:
                    break
                if isinstance(item, str):
                    raise RuntimeError(item)
                if item[0] != index:  # a chunk the queue dropped (it cannot pickle) would shift the rest
                    raise RuntimeError(f"import chunk {index} missing (got {item[0]})")
                yield item[1:]
        finally:
            for child in children:
                if child.is_alive():
                    child.terminate()
            for child in children:
                child.join(timeout=5)

    def prepare_chunk(self, chunk: list[tuple[int, list]]) -> list[tuple]:
        """("blank",), ("fail", row, cells, errors) or ("ok", candidate) per row; touches no database."""
        out: list[tuple] = []
        # A 序号/客户编号 alone is not a customer: blank rows are blank in every column that holds data.
        mapped = [i for i, _f in self.pairs] + ([self.owner_col] if self.owner_col is not None else [])
        for row, cells in chunk:
            # Entirely blank, or blank in every imported column (a 序号 alone is not a customer).
            if is_blank_row([cells[i] for i in mapped if i < len(cells)]):
                out.append(("blank",))
                continue
            out.append(self.prepare(row, cells))
        # Rows as the database takes them, in one pass per chunk (work off the writing process).
        ok = [entry[1] for entry in out if entry[0] == "ok" and not entry[1].needs_match]  # others never new
        rows = [
            customer_row(
                by=self.by,
                data=c.data,
                owner=self.users[c.owner_id],
                customer_no="",
                source=DataSource.IMPORT,
                now=self.now,
                blind={k: v for k, v in c.keys if k in ("phone", "id")},
            )
            for c in ok
        ]
        for c, encoded in zip(ok, self.encoder.encode(rows), strict=True):
            c.encoded = encoded
            if not self.may_update:
                c.data = None  # not carried to the writer, which only creates or skips
        return out

    def _progress(self) -> None:
        tmp = self.progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rows_done": self.rows_done, "counts": self.counts}))
        os.replace(tmp, self.progress_path)

    def prepare(self, row: int, cells: list) -> tuple:
        raw: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        width = len(cells)
        number = ""
        if self.key_col is not None and self.key_col < width and cells[self.key_col] not in (None, ""):
            number = str(cells[self.key_col]).strip().upper()
        masked = []
        for i, name, convert in self.converters:
            cell = cells[i] if i < width else ""
            if name in SENSITIVE and cell.__class__ is str and ("*" in cell or "＊" in cell):
                masked.append(name)  # as a masked export shows it: tells nothing, changes nothing
                continue
            try:
                raw[name] = convert(cell) if i < width else ""
            except CellError as exc:
                errors[name] = [str(exc)]
        if masked and not number:
            errors[masked[0]] = [
                _(
                    "“%(field)s”是脱敏后的值（含 *），无法导入。请改用“含完整信息”的导出文件或填写完整号码；"
                    "要更新系统中已有的客户，请保留“客户编号”列。"
                )
                % {"field": BY_FIELD[masked[0]].header}
            ]
        try:
            data = clean_customer_data(
                {k: v for k, v in raw.items() if k not in errors},
                unknown_dictionary_values="keep",
                lookups=self.lookups,
                require_contact=not masked,
            )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                if name not in errors:  # one message per field: the cell's own problem comes first
                    errors[name] = messages
        if errors:
            return ("fail", row, cells, errors)
        owner = self.default_owner
        if self.owners:
            text = cells[self.owner_col] if self.owner_col < width else None
            if text not in (None, ""):
                owner = self.owners.get(str(text).strip(), owner)
        keys = [("no", number)] if number else []  # first: the number names the customer outright
        if data.get("id_number"):
            keys.append(("id", blind_index(data["id_number"])))
        if data.get("phone"):
            keys.append(("phone", blind_index(data["phone"])))
        if data.get("uscc"):
            keys.append(("uscc", data["uscc"]))
        return ("ok", _Candidate(row, cells, data, keys, owner.pk, needs_match=bool(masked),
                                 flagged=bool(data.get("unmapped_values"))))  # fmt: skip

    def chunk(self, entries: list[tuple]) -> None:
        candidates = []
        for entry in entries:
            if entry[0] == "blank":
                self.counts["blank"] += 1
                continue
            self.counts["total"] += 1
            if entry[0] == "fail":
                self.fail(*entry[1:])
            else:
                candidates.append(entry[1])
        existing = self.lookup(candidates)
        visible = set(
            customers_visible_to(self.by).filter(pk__in={pk for pk, _o in existing.values()}).values_list("pk", flat=True)
        ) if existing else set()  # fmt: skip
        for c in candidates:
            mine = [k for k in c.keys if k in self.pending_keys]
            if mine:
                # The same customer twice in the file: the first copy is written, the second is a
                # duplicate of it exactly as if it had been in the database already.
                self.flush()
                fresh = self.lookup([c])
                existing.update(fresh)
                visible.update(fresh[k][0] for k in mine if k in fresh)  # created by this run: in scope
            match = next((existing[k] for k in c.keys if k in existing), None)
            if match is None and c.needs_match:
                self.fail(c.row, c.cells, {"customer_no": [_(
                    "系统中（您的范围内）没有这个客户编号，而本行的手机号码、证件号码等是脱敏后的值，无法新建客户。"
                )]})  # fmt: skip
            elif match is None:
                self.add(c)
            elif match[0] not in visible:
                self.fail(c.row, c.cells, {"__all__": [_(
                    "撞单：该客户（证件号码、手机号码或统一社会信用代码相同）已由其他业务员跟进，不能重复导入。"
                )]})  # fmt: skip
            elif self.batch.on_duplicate == OnDuplicate.SKIP:
                self.counts["skipped_duplicates"] += 1
            else:
                self.update(c, match[0])
        self.flush()

    def lookup(self, candidates: list[_Candidate]) -> dict[tuple[str, str], tuple[int, int | None]]:
        """(key kind, value) → (customer id, owner id) for keys already in the database.

        Plain SQL: the ORM's per-value preparation of 2,000-value IN lists cost more than the query.
        """
        from django.db import connection

        by_kind: dict[str, list[str]] = {"id": [], "phone": [], "uscc": [], "no": []}
        for c in candidates:
            for kind, value in c.keys:
                by_kind[kind].append(value)
        columns = {"id": "id_number_bidx", "phone": "phone_bidx", "uscc": "uscc", "no": "customer_no"}
        table = connection.ops.quote_name(Customer._meta.db_table)
        out: dict[tuple[str, str], tuple[int, int | None]] = {}
        with connection.cursor() as cursor:
            for kind, values in by_kind.items():
                column = connection.ops.quote_name(columns[kind])
                for start in range(0, len(values), 500):
                    part = values[start : start + 500]
                    cursor.execute(
                        f"SELECT id, owner_id, {column} FROM {table} WHERE {column} IN ({', '.join(['%s'] * len(part))})",
                        part,
                    )
                    for pk, owner_id, value in cursor.fetchall():
                        out[(kind, value)] = (pk, owner_id)
        return out

    def add(self, c: _Candidate) -> None:
        self.pending.append(c)
        self.pending_keys.update(c.keys)
        if c.flagged:
            self.counts["flagged"] += 1

    def flush(self) -> None:
        if not self.pending:
            return
        batch, pending = self.batch, self.pending
        self.pending, self.pending_keys = [], set()
        if self.dry_run:
            nos = [f"DRY{batch.pk}-{self.counts['created'] + i}" for i in range(len(pending))]
        else:
            nos = numbers.format_customer_nos(numbers.reserve(len(pending)), self.now)
        ids = customers_insert_encoded(
            by=self.by, encoder=self.encoder, encoded=[c.encoded for c in pending], nos=nos, now=self.now,
            source=DataSource.IMPORT, reason=self.reason,
        )  # fmt: skip
        bulk_insert(
            ImportCreatedRange,
            ({"batch_id": batch.pk, "first_id": first, "last_id": last} for first, last in id_runs(ids)),
        )
        self.counts["created"] += len(pending)

    def update(self, c: _Candidate, customer_id: int) -> None:
        try:
            before = customer_merge(
                by=self.by,
                customer_id=customer_id,
                data=c.data,
                only_empty=self.batch.on_duplicate == OnDuplicate.UPDATE_EMPTY,
                reason=self.reason,
            )
        except IntegrityError:
            self.fail(c.row, c.cells, {"__all__": [_(
                "与系统中另一位客户的手机号码、证件号码或统一社会信用代码相同，无法更新。"
            )]})  # fmt: skip
            return
        if not before:
            self.counts["skipped_duplicates"] += 1  # nothing new in this row
            return
        ImportRecord.objects.create(
            batch=self.batch,
            customer_id=customer_id,
            action=ImportRecord.UPDATED,
            before=json.dumps(before, default=str, ensure_ascii=False),
        )
        self.counts["updated"] += 1


def import_batch_run(*, batch_id: int, dry_run: bool) -> ImportBatch:
    """Run (or dry-run) a batch now, in this process. Used by the worker task and by the CLI."""
    batch = ImportBatch.objects.select_related("created_by", "default_owner").get(pk=batch_id)
    by = batch.created_by
    require_perm(by, Perm.CUSTOMER_IMPORT)
    running = BatchStatus.VALIDATING if dry_run else BatchStatus.IMPORTING
    claimable = [BatchStatus.QUEUED, BatchStatus.UPLOADED, BatchStatus.VALIDATED, BatchStatus.ROLLED_BACK,
                 BatchStatus.FAILED]  # fmt: skip
    if not ImportBatch.objects.filter(pk=batch_id, status__in=claimable).update(
        status=running, dry_run=dry_run, started_at=timezone.now(), finished_at=None, rows_done=0, message=""
    ):
        return batch  # already taken by another run, or imported: nothing to do
    batch.refresh_from_db()
    run = _Run(batch, by, dry_run)
    outcome = None
    _large_cache()
    try:
        with transaction.atomic():
            run.execute()
            run.errors.close()
            failed = run.counts["failed"]
            if dry_run:
                outcome = BatchStatus.VALIDATED
            elif failed and batch.on_error == OnError.ALL_OR_NOTHING:
                outcome = BatchStatus.ROLLED_BACK
            else:
                outcome = BatchStatus.DONE
                # Written in the same transaction as the customers: done and present, or neither.
                _finish(batch, run, outcome)
                ImportBatch.objects.filter(pk=batch.pk).update(
                    preview=[]
                )  # raw cells: not kept once imported
                audit_record(
                    action=Action.CUSTOMER_IMPORT,
                    actor=by,
                    obj=batch,
                    extra={
                        "file": batch.original_name,
                        "counts": run.counts,
                        "on_duplicate": batch.on_duplicate,
                    },
                )
            if outcome != BatchStatus.DONE:
                raise _Rollback
    except _Rollback:
        _finish(batch, run, outcome)
    except reading.SheetError as exc:
        run.errors.close()
        _finish(batch, run, BatchStatus.FAILED, message=str(exc))
    except Exception as exc:
        log.exception("import batch %s failed", batch_id)
        run.errors.close()
        _finish(
            batch, run, BatchStatus.FAILED,
            message=_("导入中断，没有写入任何客户：%(error)s") % {"error": type(exc).__name__},
        )  # fmt: skip
        raise
    finally:
        reading.forget(Path(batch.stored_path))
    batch.refresh_from_db()
    return batch


@contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic cyclic collection during a run; the caller collects the young generation per chunk.

    A run allocates millions of short-lived, acyclic objects (cells, dicts); every automatic collection
    would walk all of Django's long-lived objects again. Frozen, they are skipped (about -20 % CPU).
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _large_cache() -> None:
    """SQLite's default page cache (2 MB) thrashes on a million-row table's indexes during a bulk load."""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -65536")  # 64 MB, for this connection only


def _produce(run: "_Run", queue, parent_pid: int, k: int, of: int) -> None:
    """A helper process: read the sheet, prepare chunks k, k + of, k + 2·of … and hand them over in
    order; never touches the database.

    If the importer dies (killed mid-way), nobody reads the queue any more: the helper notices within a
    second and leaves with os._exit, which skips flushing what it queued (a normal exit would wait for
    that flush for ever). A normal finish exits normally, so the last chunks reach the importer.
    """

    def hand_over(item) -> None:
        while True:
            try:
                queue.put(item, timeout=1)
                return
            except Full:
                if os.getppid() != parent_pid:  # the importer died: stop rather than linger
                    os._exit(0)

    try:
        rows = reading.data_rows(Path(run.batch.stored_path), run.batch.original_name, run.batch.header_row)
        for index in itertools.count():
            chunk = list(islice(rows, CHUNK))
            if not chunk:
                break
            if index % of != k:
                continue  # another helper's chunk
            hand_over((index, len(chunk), run.prepare_chunk(chunk)))
            gc.collect(1)
            if os.getppid() != parent_pid:
                os._exit(0)
        hand_over(None)
    except Exception as exc:  # reported by the parent, which fails the run
        hand_over(f"{type(exc).__name__}: {exc}")


def _finish(batch: ImportBatch, run: _Run, status: str, message: str = "") -> None:
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=status,
        rows_done=run.rows_done,
        rows_total=run.rows_done,
        counts=run.counts,
        errors_sample=run.errors_sample,
        errors_path=str(run.errors.path) if run.errors.rows else "",
        finished_at=timezone.now(),
        message=message,
    )


# --- undo ---------------------------------------------------------------------------------------------


def import_batch_undo_start(*, by: User, batch: ImportBatch) -> ImportBatch:
    """Queue the undo of a whole batch in the background (a large batch takes a while)."""
    require_perm(by, Perm.CUSTOMER_IMPORT)
    if batch.status != BatchStatus.DONE:
        raise ValidationError({"__all__": [_("只有已导入的批次可以撤销。")]})
    with transaction.atomic():
        if not ImportBatch.objects.filter(pk=batch.pk, status=BatchStatus.DONE).update(
            status=BatchStatus.UNDOING, message=""
        ):
            raise ValidationError({"__all__": [_("只有已导入的批次可以撤销。")]})
        from .tasks import undo_import

        transaction.on_commit(lambda: undo_import(batch.pk, by.pk))
    batch.refresh_from_db()
    return batch


def import_batch_undo(*, by: User, batch: ImportBatch) -> dict[str, int]:
    """Take a whole batch back: created customers are deleted, updated ones get their old values.

    A created customer someone has edited since (or who has follow-ups) is kept and counted, so undo
    never destroys work done after the import. All in one transaction: an undo that fails leaves the
    batch as it was, still marked imported.
    """
    require_perm(by, Perm.CUSTOMER_IMPORT)
    if batch.status not in (BatchStatus.DONE, BatchStatus.UNDOING):
        raise ValidationError({"__all__": [_("只有已导入的批次可以撤销。")]})
    try:
        return _undo(by, batch)
    except Exception:
        log.exception("undo of import batch %s failed", batch.pk)
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.DONE, message=_("撤销失败，批次保持已导入状态，请稍后重试。")
        )
        raise


def _undo(by: User, batch: ImportBatch) -> dict[str, int]:
    result = {"deleted": 0, "restored": 0, "kept": 0}
    with transaction.atomic():
        for part in _batched(_created_ids(batch), 1000):
            qs = customers_visible_to(by).filter(pk__in=part)
            untouched = qs.filter(
                version=1,
                follow_ups__isnull=True,
                related_persons__isnull=True,
                assets__isnull=True,
                attachments__isnull=True,
                tags__isnull=True,
            ).distinct()
            ids = list(untouched.values_list("pk", flat=True))
            present = Customer.objects.filter(pk__in=part).count()  # deleted since: neither kept nor undone
            result["kept"] += present - len(ids)
            for customer in Customer.objects.filter(pk__in=ids):
                customer._history_user = by
                customer._change_reason = _("撤销导入批次 #%(id)s") % {"id": batch.pk}
                customer.delete()
            result["deleted"] += len(ids)
        reason = _("撤销导入批次 #%(id)s") % {"id": batch.pk}
        for record in ImportRecord.objects.filter(batch=batch, action=ImportRecord.UPDATED):
            before = json.loads(record.before or "{}")
            before.pop("unmapped_values", None)
            if customer_restore_fields(by=by, customer_id=record.customer_id, values=before, reason=reason):
                result["restored"] += 1
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=BatchStatus.UNDONE, undone_at=timezone.now(), undone_by=by, undo_counts=result
        )
        audit_record(action=Action.CUSTOMER_IMPORT_UNDO, actor=by, obj=batch, extra=result)
    return result


def id_runs(ids: list[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive ids: [1, 2, 3, 7, 8] → (1, 3), (7, 8)."""
    first = last = None
    for pk in ids:
        if last is not None and pk == last + 1:
            last = pk
            continue
        if first is not None:
            yield first, last
        first = last = pk
    if first is not None:
        yield first, last


def _created_ids(batch: ImportBatch) -> Iterator[int]:
    for first, last in batch.created_ranges.order_by("first_id").values_list("first_id", "last_id"):
        yield from range(first, last + 1)
    # Batches imported before ranges recorded each customer on its own.
    records = ImportRecord.objects.filter(batch=batch, action=ImportRecord.CREATED)
    yield from records.values_list("customer_id", flat=True).iterator(chunk_size=2000)


def _batched(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while part := list(islice(it, size)):
        yield part


def import_batches_purge_files(*, older_than_days: int = 90) -> int:
    """Remove stored sheets of old batches (their counts and history stay)."""
    cutoff = timezone.now() - timezone.timedelta(days=older_than_days)
    removed = 0
    for batch in ImportBatch.objects.filter(created_at__lt=cutoff).exclude(stored_path=""):
        shutil.rmtree(batch_dir(batch), ignore_errors=True)
        ImportBatch.objects.filter(pk=batch.pk).update(stored_path="", errors_path="", preview=[])
        removed += 1
    return removed


def import_file_open(*, by: User, batch: ImportBatch, which: str) -> tuple[IO[bytes], str]:
    """The uploaded sheet (`source`) or the error workbook (`errors`) of a batch, for download; audited.

    Both hold what people typed (ID numbers, phones) unmasked, so every download is in the audit log.
    """
    require_perm(by, Perm.CUSTOMER_IMPORT)
    if batch.created_by_id != by.pk:
        require_perm(by, Perm.CUSTOMER_REVEAL)  # the files hold ID numbers and phones as typed
    stem = Path(batch.original_name).stem or "import"
    if which == "errors":
        path, name = batch.errors_path, _("%(name)s-未导入的行.xlsx") % {"name": stem}
    elif which == "source":
        path, name = batch.stored_path, batch.original_name
    else:
        raise Http404
    if not path:
        raise Http404
    try:
        handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    except FileNotFoundError:
        raise Http404 from None
    with transaction.atomic():
        audit_record(
            action=Action.IMPORT_FILE_DOWNLOAD, actor=by, obj=batch, extra={"file": which, "name": name}
        )
    return handle, name


# --- values no dictionary knows (kept by imports, flagged for an admin) --------------------------------


def unmapped_value_map(*, by: User, field: str, value: str, code: str = "", new_code: str = "") -> int:
    """Give every customer in `by`'s scope whose `field` was imported as `value` the dictionary item
    `code` (or a new item `new_code` labelled `value`); answers how many customers changed.

    A customer whose field was filled in since keeps it; the flag goes either way. Each change gets
    a history version and the whole mapping one audit entry.
    """
    from loancrm.customers.fields import DICTIONARY_FIELDS
    from loancrm.customers.services import customers_map_unmapped_value
    from loancrm.dictionaries.selectors import dictionary_labels
    from loancrm.dictionaries.services import dictionary_item_create

    require_perm(by, Perm.SETTINGS_MANAGE)
    if field not in DICTIONARY_FIELDS:
        raise ValidationError({"field": [_("没有这个字段")]})
    kind = DICTIONARY_FIELDS[field]
    with transaction.atomic():
        if new_code:
            code = dictionary_item_create(by=by, kind=kind, code=new_code, label=value).code
        elif code not in dictionary_labels(kind, active_only=True):
            raise ValidationError({"code": [_("请选择一个启用中的字典项")]})
        changed = customers_map_unmapped_value(by=by, field=field, value=value, code=code)
        audit_record(
            action=Action.DICTIONARY_UPDATE,
            actor=by,
            extra={"mapped": {"field": field, "value": value, "code": code}, "customers": changed},
        )
    return changed
