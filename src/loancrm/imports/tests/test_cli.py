"""`loancrm import customers …` as operators and the acceptance runs use it."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from python_calamine import CalamineWorkbook

from loancrm.customers.models import Customer

from .sheets import write_csv, write_xlsx

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def call(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_summary_is_the_last_line_and_errors_go_to_a_workbook(users, tmp_path):
    path = write_xlsx(
        tmp_path / "c.xlsx", [["姓名", "手机号码"], ["甲", "13800000001"], ["乙", "bad"], ["", ""]]
    )
    out, err = call(
        "customers", str(path), "--as", "sales1", "--json", "--errors-out", str(tmp_path / "e.xlsx")
    )
    summary = json.loads(out.strip().splitlines()[-1])
    assert {k: summary[k] for k in ["total", "created", "updated", "skipped_duplicates", "failed", "blank"]} == {
        "total": 2, "created": 1, "updated": 0, "skipped_duplicates": 0, "failed": 1, "blank": 1}  # fmt: skip
    assert all(isinstance(summary[k], int) for k in ["total", "created", "failed", "blank"])
    assert "第 3 行" in err
    rows = CalamineWorkbook.from_path(str(tmp_path / "e.xlsx")).get_sheet_by_index(0).to_python()
    assert [r[0] for r in rows[1:]] == ["乙"]


def test_dry_run_and_duplicate_policy_flags(users, tmp_path):
    path = write_csv(tmp_path / "c.csv", [["姓名", "手机号码", "职业"], ["甲", "13800000001", "教师"]])
    out, _err = call("customers", str(path), "--as", "sales1", "--json", "--dry-run")
    assert json.loads(out.splitlines()[-1])["created"] == 1 and not Customer.objects.exists()
    call("customers", str(path), "--as", "sales1")
    path = write_csv(tmp_path / "d.csv", [["姓名", "手机号码", "职业"], ["甲", "13800000001", "医生"]])
    out, _err = call("customers", str(path), "--as", "sales1", "--json", "--on-duplicate", "overwrite")
    assert json.loads(out.splitlines()[-1])["updated"] == 1
    assert Customer.objects.get().occupation == "医生"


def test_unreadable_file_exits_2(users, tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(SystemExit) as exc:
        call("customers", str(bad), "--as", "sales1", "--json")
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        call("customers", str(tmp_path / "missing.csv"), "--as", "sales1")
    assert exc.value.code == 2


# --- acceptance 2: killed half-way, nothing half-applies; running again finishes the job ---------------


def _database_env(tmp_path: Path) -> tuple[dict, callable]:
    """A throwaway database for child processes: a SQLite file, or a new PostgreSQL database."""
    env = {
        **os.environ,
        "LOANCRM_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "loancrm.settings",
    }
    url = os.environ.get("DATABASE_URL")
    if not url:
        env.pop("DATABASE_URL", None)
        return env, lambda: None
    import psycopg

    name = f"loancrm_kill_{uuid.uuid4().hex[:8]}"
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + name

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return env, drop


def _count(env) -> int:
    out = subprocess.run(
        [str(BIN / "loancrm"), "shell", "-c",
         "from loancrm.customers.models import Customer; print(Customer.objects.count())"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _assert_gone(pids: list[int], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
        if not alive:
            return
        time.sleep(0.1)
    for p in alive:
        os.kill(p, signal.SIGKILL)
    raise AssertionError(f"helper processes still running after the importer was killed: {alive}")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_killed_import_leaves_nothing_and_a_rerun_finishes(tmp_path):
    env, drop = _database_env(tmp_path)
    try:
        loancrm = str(BIN / "loancrm")
        subprocess.run([loancrm, "migrate", "-v0"], env=env, check=True)
        subprocess.run([loancrm, "demo-data", "--customers", "0"], env=env, check=True, capture_output=True)
        rows = [["姓名", "手机号码", "职业"]] + [[f"客户{i}", f"13{i:09d}", "职员"] for i in range(30_000)]
        sheet = write_csv(tmp_path / "big.csv", rows)
        child = subprocess.Popen([loancrm, "import", "customers", str(sheet), "--as", "sales1"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        progress = tmp_path / "data" / "imports" / "1" / "progress.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if progress.exists() and json.loads(progress.read_text() or "{}").get("rows_done", 0) >= 4000:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the import finished before it could be killed; make the sheet bigger"
        helpers = _children(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert _count(env) == 0  # nothing half-applied
        _assert_gone(helpers)  # the reader process it forked does not linger
        done = subprocess.run([loancrm, "import", "customers", str(sheet), "--as", "sales1", "--json"], env=env,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1])["created"] == 30_000
        assert _count(env) == 30_000
    finally:
        drop()
