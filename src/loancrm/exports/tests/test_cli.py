"""`loancrm export customers`: the same export as the web, synchronous, one summary line."""

import pytest
from django.core.management import CommandError, call_command

from loancrm.audit.models import Action, AuditEntry
from loancrm.customers.selectors import CustomerFilters, customer_list, customers_visible_to
from loancrm.exports.models import ExportJob
from loancrm.imports.columns import COLUMNS

from .conftest import read_csv, read_xlsx

pytestmark = pytest.mark.django_db

HEADERS = [c.header for c in COLUMNS]


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("export", "customers", *args, stdout=out)
    return out.getvalue()


def test_cli_writes_xlsx(users, customers, tmp_path):
    path = tmp_path / "manager.xlsx"
    out = run("--as", "manager1", "--format", "xlsx", "-o", str(path))
    rows = read_xlsx(path)
    expected = customers_visible_to(users["manager1"]).count()
    assert rows[0] == HEADERS and len(rows) == expected + 1
    assert len(out.strip().splitlines()) == 1 and f"已导出 {expected} 位客户" in out
    assert not ExportJob.objects.exists()  # synchronous: no job
    entry = AuditEntry.objects.get(action=Action.EXPORT)
    assert entry.actor == users["manager1"] and entry.extra["rows"] == expected
    assert not list(tmp_path.glob("*.part"))


def test_cli_csv_with_filters_and_reveal(users, customers, tmp_path):
    path = tmp_path / "admin.csv"
    run("--as", "admin", "-o", str(path), "--reveal", "--filter", "stage=contacted", "--filter", "sort=name")
    rows = read_csv(path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    expected = customer_list(users["admin"], CustomerFilters(stage="contacted")).order_by("name", "-id")
    assert [r[0] for r in rows[1:]] == list(expected.values_list("customer_no", flat=True))
    phone = HEADERS.index("手机号码")
    assert all("*" not in r[phone] for r in rows[1:])
    assert AuditEntry.objects.get(action=Action.EXPORT).extra == {
        "filters": {"stage": "contacted", "sort": "name"},
        "format": "csv",
        "rows": len(rows) - 1,
        "revealed": True,
    }


@pytest.mark.parametrize(
    "args,message",
    [
        (["--as", "nobody"], "没有在职用户"),
        (["--as", "sales1"], "没有权限"),
        (["--as", "finance1", "--reveal"], "没有权限"),
        (["--as", "admin", "--filter", "evil=1"], "无法识别的筛选条件"),
        (["--as", "admin", "--filter", "stage"], "无法识别的筛选条件"),
    ],
)
def test_cli_refusals(users, customers, tmp_path, args, message):
    path = tmp_path / "out.csv"
    with pytest.raises(CommandError, match=message):
        run(*args, "-o", str(path))
    assert not path.exists()


def test_cli_needs_a_format(users, tmp_path):
    with pytest.raises(CommandError, match="--format"):
        run("--as", "admin", "-o", str(tmp_path / "out.txt"))
