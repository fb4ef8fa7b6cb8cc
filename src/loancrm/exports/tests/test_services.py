"""Customer export services: the column contract, masking and reveal, scope and filters, audit, formula
neutralisation, CSV/xlsx agreement, the background job's progress and the clean-up."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from loancrm.audit.models import Action, AuditEntry
from loancrm.customers import services as customer_services
from loancrm.customers.models import Customer
from loancrm.customers.selectors import CustomerFilters, customer_list, customers_visible_to
from loancrm.customers.validators import mask_bank_card, mask_id_number, mask_phone
from loancrm.exports import services, sheet
from loancrm.exports.models import ExportJob, ExportStatus
from loancrm.imports.columns import BY_FIELD, COLUMNS, IMPORTABLE, MONEY, RATE, auto_mapping

from .conftest import read_csv, read_xlsx

pytestmark = pytest.mark.django_db

HEADERS = [c.header for c in COLUMNS]
COL = {c.field: i for i, c in enumerate(COLUMNS)}
ID_1234 = "640104199001191234"
PHONE = "13812345678"
BACKUP = "15987654321"
CARD = "6222021234567890128"


def export(tmp_path: Path, user, fmt: str = "csv", *, reveal: bool = False, name: str = "", **filters):
    path = tmp_path / (name or f"out-{user.username}-{reveal}.{fmt}")
    rows = services.export_customers_to_file(by=user, filters=filters, fmt=fmt, reveal=reveal, path=path)
    return rows, path


def body(path: Path) -> list[list]:
    table = read_csv(path) if path.suffix == ".csv" else read_xlsx(path)
    assert table[0] == HEADERS
    return table[1:]


def column(rows: list[list], field: str) -> list:
    return [r[COL[field]] for r in rows]


@pytest.fixture
def rich(users):
    """A customer of sales1 with every kind of column filled in."""
    return customer_services.customer_create(
        by=users["sales1"],
        data={
            "name": "王小明",
            "phone": PHONE,
            "backup_phone": BACKUP,
            "id_number": ID_1234,
            "bank_account": CARD,
            "bank_name": "宁夏银行",
            "marital_status": "married",
            "education": "bachelor",
            "stage": "contacted",
            "channel": "referral",
            "loan_type": "credit",
            "monthly_income": "8000",
            "expected_amount": "5万",
            "expected_term_months": "12",
            "acceptable_rate_min": "4.35",
            "acceptable_rate_max": "12",
            "credit_query_count": "3",
            "next_follow_up_at": timezone.make_aware(timezone.datetime(2026, 12, 1, 9, 30)),
            "product_preferences": ["low_rate", "fast"],
            "special_notes": "老客户介绍",
        },
    )


# --- the column contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_headers_are_the_import_columns(users, customers, tmp_path, fmt):
    rows, path = export(tmp_path, users["admin"], fmt)
    table = body(path)
    assert rows == len(table) == Customer.objects.count() == 60
    # The importer maps every importable header of an exported file back to its field.
    assert [f for f in auto_mapping(HEADERS) if f] == [c.field for c in IMPORTABLE]


def test_values_follow_the_contract(users, rich, tmp_path):
    _rows, path = export(tmp_path, users["admin"], reveal=True)
    (row,) = body(path)
    got = {c.field: row[i] for i, c in enumerate(COLUMNS)}
    assert got["customer_no"] == rich.customer_no
    assert got["customer_type"] == "个人"
    assert got["gender"] == "男"  # derived from the ID number
    assert got["id_type"] == "居民身份证"
    assert got["birth_date"] == "1990-01-19"
    assert got["marital_status"] == "已婚"
    assert got["education"] == "本科"
    assert got["stage"] == "初步接洽"
    assert got["channel"] == "老客户转介绍"
    assert got["loan_type"] == "信贷"
    assert got["monthly_income"] == "8000.00"
    assert got["expected_amount"] == "50000.00"
    assert got["expected_term_months"] == "12"
    assert got["acceptable_rate_min"] == "4.35"
    assert got["acceptable_rate_max"] == "12.00"
    assert got["credit_query_count"] == "3"
    assert got["next_follow_up_at"] == "2026-12-01 09:30"  # local time (Asia/Shanghai)
    assert got["product_preferences"] == "低利率、放款快"
    assert got["owner"] == users["sales1"].display_name
    assert got["department"] == users["sales1"].department.name
    assert got["data_source"] == "手工录入"
    assert got["created_at"] == timezone.localtime(rich.created_at).strftime("%Y-%m-%d %H:%M")
    assert got["id_number"] == ID_1234 and got["phone"] == PHONE and got["bank_account"] == CARD


def test_english_ui_still_writes_chinese_labels(users, rich, tmp_path):
    from django.utils import translation

    with translation.override("en"):
        _rows, path = export(tmp_path, users["admin"])
    (row,) = body(path)
    assert row[COL["customer_type"]] == "个人" and row[COL["gender"]] == "男"
    assert row[COL["data_source"]] == "手工录入"


# --- masking, reveal and audit ---------------------------------------------------------------------


def test_masked_by_default_and_audited(users, rich, tmp_path):
    rows, path = export(tmp_path, users["admin"], stage="contacted")
    (row,) = body(path)
    assert row[COL["id_number"]] == mask_id_number(ID_1234) == "640104********1234"
    assert row[COL["phone"]] == mask_phone(PHONE) == "138****5678"
    assert row[COL["backup_phone"]] == mask_phone(BACKUP)
    assert row[COL["bank_account"]] == mask_bank_card(CARD) == "**** 0128"
    assert PHONE.encode() not in path.read_bytes() and ID_1234.encode() not in path.read_bytes()
    entry = AuditEntry.objects.get(action=Action.EXPORT)
    assert entry.actor == users["admin"]
    assert entry.extra == {
        "filters": {"stage": "contacted"},
        "format": "csv",
        "rows": rows,
        "revealed": False,
    }


@pytest.mark.parametrize("username", ["admin", "manager1"])
def test_reveal_for_roles_that_may_reveal(users, rich, tmp_path, username):
    _rows, path = export(tmp_path, users[username], "xlsx", reveal=True)
    (row,) = [r for r in body(path) if r[COL["customer_no"]] == rich.customer_no]
    assert (row[COL["id_number"]], row[COL["phone"]], row[COL["backup_phone"]], row[COL["bank_account"]]) == (
        ID_1234,
        PHONE,
        BACKUP,
        CARD,
    )
    entry = AuditEntry.objects.get(action=Action.EXPORT)
    assert (
        entry.actor == users[username] and entry.extra["revealed"] is True and entry.extra["format"] == "xlsx"
    )


def test_reveal_refused_without_the_reveal_permission(users, rich, tmp_path):
    finance = users["finance1"]  # may export (masked), may not reveal
    with pytest.raises(PermissionDenied):
        export(tmp_path, finance, reveal=True)
    denial = AuditEntry.objects.get(action=Action.PERMISSION_DENIED, actor=finance)
    assert denial.extra["permission"] == "customer.reveal"
    assert not AuditEntry.objects.filter(action=Action.EXPORT).exists()
    assert not list(tmp_path.glob("out-*"))  # nothing written
    rows, path = export(tmp_path, finance)
    assert rows == 1 and body(path)[0][COL["phone"]] == "138****5678"


@pytest.mark.parametrize("username", ["sales1", "risk1", "approver1", "auditor1"])
def test_roles_without_export_permission_are_refused(users, rich, tmp_path, username):
    with pytest.raises(PermissionDenied):
        export(tmp_path, users[username])
    assert AuditEntry.objects.filter(
        action=Action.PERMISSION_DENIED, actor=users[username], extra__permission="customer.export"
    ).exists()
    with pytest.raises(PermissionDenied):
        services.export_job_create(by=users[username], filters={}, fmt="csv", reveal=False)
    assert not ExportJob.objects.exists()


def test_unknown_format_refused(users):
    with pytest.raises(ValidationError):
        services.export_job_create(by=users["admin"], filters={}, fmt="pdf", reveal=False)


# --- scope and filters -----------------------------------------------------------------------------


def test_salesperson_exports_only_own_customers(users, customers, tmp_path, grant):
    sales1 = grant("sales1", "customer.export")
    _rows, path = export(tmp_path, sales1, "xlsx")
    got = column(body(path), "customer_no")
    mine = list(customers_visible_to(sales1).order_by("-id").values_list("customer_no", flat=True))
    assert got == mine and 0 < len(mine) < 60
    assert set(column(body(path), "owner")) == {sales1.display_name}


@pytest.mark.parametrize(
    "username,filters",
    [
        ("manager1", {}),
        ("manager1", {"stage": "contacted"}),
        ("admin", {"type": "individual", "sort": "name"}),
        ("admin", {"follow": "overdue", "channel": "douyin"}),
        ("finance1", {"q": "KH"}),
    ],
)
def test_rows_are_the_lists_rows(users, customers, tmp_path, username, filters):
    """Same user, same filters: the file holds exactly the rows of the customer list, in its order."""
    from loancrm.customers.views import filters_from

    user = users[username]
    rows, path = export(tmp_path, user, **filters)
    listed = customer_list(user, filters_from(filters))
    # Ties of the list's sort (same name …) are broken newest first, so the order is repeatable.
    expected = list(listed.order_by(*listed.query.order_by, "-id").values_list("customer_no", flat=True))
    assert column(body(path), "customer_no") == expected
    assert rows == len(expected)


def test_filters_keep_only_list_parameters():
    from django.http import QueryDict

    params = QueryDict("stage=new&page=3&owner=5&evil=1&q=&sort=-id")
    assert services.clean_filters(params) == {"stage": "new", "owner": "5", "sort": "-id"}


def test_scope_filter_cannot_widen(users, customers, tmp_path, grant):
    """An owner filter naming someone else's id gives nothing rather than their customers."""
    sales1 = grant("sales1", "customer.export")
    rows, _path = export(tmp_path, sales1, owner=str(users["sales3"].pk))
    assert rows == 0
    assert customer_list(users["admin"], CustomerFilters(owner_id=users["sales3"].pk)).exists()


# --- formula neutralisation and the two formats ----------------------------------------------------

DANGEROUS = ["=1+1", "@SUM(A1)", "-2", "+86"]


@pytest.fixture
def dangerous(users):
    out = []
    for i, text in enumerate(DANGEROUS):
        out.append(
            customer_services.customer_create(
                by=users["sales1"],
                data={"name": text, "phone": f"1390000000{i}", "special_notes": text, "wechat": "\t" + text},
            )
        )
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_neutralised(users, dangerous, tmp_path, fmt):
    _rows, path = export(tmp_path, users["admin"], fmt)
    rows = body(path)
    assert sorted(column(rows, "name")) == sorted("'" + t for t in DANGEROUS)
    assert sorted(column(rows, "special_notes")) == sorted("'" + t for t in DANGEROUS)
    for value in column(rows, "wechat"):  # a tab at the start is stripped by the cleaning or quoted here
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))
    for row in rows:
        for value in row:
            assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")))
    if fmt == "xlsx":
        import zipfile

        xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in xml  # no cell is a formula


def test_csv_starts_with_utf8_bom(users, customers, tmp_path):
    _rows, path = export(tmp_path, users["admin"], "csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + "客户编号".encode())
    assert data.count(b"\xef\xbb\xbf") == 1


def _as_text(value, field: str) -> str:
    """A cell read back from the .xlsx in the CSV's spelling (amounts 50000.00, counts 12)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        if BY_FIELD[field].kind in (MONEY, RATE):
            return f"{Decimal(str(value)):.2f}"
        return str(int(value))
    return value


def test_xlsx_reads_back_as_the_csv(users, customers, rich, dangerous, tmp_path):
    _n, csv_path = export(tmp_path, users["admin"], "csv", reveal=True)
    _n, xlsx_path = export(tmp_path, users["admin"], "xlsx", reveal=True)
    csv_rows = body(csv_path)
    xlsx_rows = [[_as_text(v, c.field) for v, c in zip(r, COLUMNS, strict=True)] for r in body(xlsx_path)]
    assert xlsx_rows == csv_rows
    assert len(csv_rows) == 65
    # Amounts are numbers in Excel (they add up), identifiers stay text (no lost digits).
    raw = read_xlsx(xlsx_path)
    (rich_row,) = [r for r in raw if r[COL["customer_no"]] == rich.customer_no]
    assert rich_row[COL["expected_amount"]] == 50000
    assert rich_row[COL["id_number"]] == ID_1234 and rich_row[COL["bank_account"]] == CARD


def test_xlsx_header_bold_frozen_and_widths(users, rich, tmp_path):
    import zipfile

    _n, path = export(tmp_path, users["admin"], "xlsx")
    with zipfile.ZipFile(path) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
        styles = z.read("xl/styles.xml").decode()
    assert 'ySplit="1"' in sheet_xml and 'state="frozen"' in sheet_xml
    assert "<b/>" in styles
    assert f'width="{BY_FIELD["id_number"].width + 0.7109375}"' in sheet_xml


def test_large_export_reads_in_chunks(users, customers, tmp_path, monkeypatch):
    """Rows are fetched a chunk at a time and progress is reported after each chunk."""
    monkeypatch.setattr(services, "CHUNK", 7)
    seen = []
    path = tmp_path / "chunks.csv"
    rows = services.export_customers_to_file(
        by=users["admin"], filters={}, fmt="csv", reveal=False, path=path, progress=seen.append
    )
    assert rows == 60
    assert seen == [7, 14, 21, 28, 35, 42, 49, 56, 60]


# --- the background job ----------------------------------------------------------------------------


def test_job_runs_to_done_with_progress(users, customers, django_capture_on_commit_callbacks, data_dir):
    manager = users["manager1"]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = services.export_job_create(by=manager, filters={"stage": "contacted", "page": "2"}, fmt="xlsx",
                                         reveal=True)  # fmt: skip
    assert len(callbacks) == 1
    job.refresh_from_db()
    expected = customer_list(manager, CustomerFilters(stage="contacted")).count()
    assert job.status == ExportStatus.DONE and job.error == ""
    assert job.filters == {"stage": "contacted"}
    assert job.rows_done == job.rows_total == expected > 0
    assert job.percent == 100 and job.finished_at and job.started_at
    path = Path(job.file_path)
    assert path.parent == data_dir / "exports" and path.stat().st_size == job.file_size
    assert len(read_xlsx(path)) == expected + 1
    entry = AuditEntry.objects.get(action=Action.EXPORT)
    assert entry.object_type == "exportjob" and entry.object_id == str(job.pk)
    assert entry.extra == {
        "filters": {"stage": "contacted"},
        "format": "xlsx",
        "rows": expected,
        "revealed": True,
    }
    # Delivered twice, it does not export twice.
    services.export_job_run(job_id=job.pk)
    assert AuditEntry.objects.filter(action=Action.EXPORT).count() == 1


def test_job_progress_is_written_while_it_runs(
    users, customers, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "CHUNK", 25)
    seen = []
    real = services._update

    def spy(job_id, **fields):
        if "rows_done" in fields and "status" not in fields:
            seen.append(fields["rows_done"])
        real(job_id, **fields)

    monkeypatch.setattr(services, "_update", spy)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_job_create(by=users["admin"], filters={}, fmt="csv", reveal=False)
    job.refresh_from_db()
    assert seen == [25, 50, 60] and job.status == ExportStatus.DONE and job.rows_done == 60


def test_job_fails_cleanly_when_role_lost_export(users, customers, django_capture_on_commit_callbacks):
    manager = users["manager1"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.export_job_create(by=manager, filters={}, fmt="csv", reveal=False)
    manager.role.permissions = [p for p in manager.role.permissions if p != "customer.export"]
    manager.role.save()
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and job.error == "没有权限：导出客户" and not job.file_path
    assert not AuditEntry.objects.filter(action=Action.EXPORT).exists()


def test_xlsx_row_limit(users, customers, monkeypatch, django_capture_on_commit_callbacks, tmp_path):
    monkeypatch.setattr(services, "XLSX_MAX_ROWS", 10)
    monkeypatch.setattr(sheet, "XLSX_MAX_ROWS", 10)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_job_create(by=users["admin"], filters={}, fmt="xlsx", reveal=False)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "CSV" in job.error
    with pytest.raises(ValidationError):  # the CLI path stops at the limit too, and leaves no file
        export(tmp_path, users["admin"], "xlsx", name="big.xlsx")
    assert not list(tmp_path.glob("big.xlsx*"))
    rows, _path = export(tmp_path, users["admin"], "csv")
    assert rows == 60


def test_cleanup_removes_old_files(users, rich, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        old = services.export_job_create(by=users["admin"], filters={}, fmt="csv", reveal=False)
        new = services.export_job_create(by=users["admin"], filters={}, fmt="csv", reveal=False)
    ExportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    old.refresh_from_db()
    new.refresh_from_db()
    assert Path(old.file_path).exists()
    assert services.export_jobs_cleanup() == 1
    assert not Path(old.file_path).exists() and Path(new.file_path).exists()
    old.refresh_from_db()
    assert old.status == ExportStatus.EXPIRED and old.file_path == ""
    assert services.export_jobs_cleanup() == 0


def test_a_user_may_not_pile_up_exports(users, django_capture_on_commit_callbacks):
    admin = users["admin"]
    with django_capture_on_commit_callbacks(execute=False):  # the worker is busy: they stay queued
        for _i in range(services.RUNNING_LIMIT):
            services.export_job_create(by=admin, filters={}, fmt="csv", reveal=False)
    with pytest.raises(ValidationError, match="正在进行"):
        services.export_job_create(by=admin, filters={}, fmt="csv", reveal=False)
    services.export_job_create(by=users["manager1"], filters={}, fmt="csv", reveal=False)  # others may
    ExportJob.objects.filter(created_by=admin).update(created_at=timezone.now() - timedelta(hours=2))
    services.export_job_create(by=admin, filters={}, fmt="csv", reveal=False)  # stuck ones stop counting


def test_job_file_is_private(users, rich, django_capture_on_commit_callbacks, data_dir):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.export_job_create(by=users["admin"], filters={}, fmt="csv", reveal=False)
    job.refresh_from_db()
    path = Path(job.file_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "exports").stat().st_mode & 0o777 == 0o700
    assert not list((data_dir / "exports").glob("*.part"))
