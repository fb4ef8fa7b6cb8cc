"""`loancrm loans schedule`: JSON and table output, Chinese errors naming the option, exit code 2."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

BIN = Path(sys.executable).parent
ARGS = ["--principal", "100000", "--annual-rate", "0.0435", "--months", "12", "--method", "annuity",
        "--start", "2026-01-31"]  # fmt: skip


def _run(*args: str) -> str:
    out = StringIO()
    call_command("loans", "schedule", *args, stdout=out)
    return out.getvalue()


def test_json_output():
    lines = _run(*ARGS, "--json").splitlines()
    assert len(lines) == 1
    rows = json.loads(lines[-1])
    assert len(rows) == 12
    assert rows[0] == {
        "period": 1, "due_date": "2026-02-28", "principal": "8168.49", "interest": "362.50",
        "payment": "8530.99", "balance": "91831.51",
    }  # fmt: skip
    assert rows[1]["due_date"] == "2026-03-31"
    assert rows[-1] == {
        "period": 12, "due_date": "2027-01-31", "principal": "8500.20", "interest": "30.81",
        "payment": "8531.01", "balance": "0.00",
    }  # fmt: skip
    assert all(
        isinstance(row[k], str) for row in rows for k in ("principal", "interest", "payment", "balance")
    )


@pytest.mark.parametrize("method", ["annuity", "equal_principal", "interest_first", "bullet"])
def test_every_method(method):
    args = ["--principal", "5000.5", "--annual-rate", "0", "--months", "3", "--method", method,
            "--start", "2024-11-30", "--json"]  # fmt: skip
    rows = json.loads(_run(*args))
    assert rows[-1]["balance"] == "0.00" and rows[-1]["due_date"] == "2025-02-28"
    assert sum(int(r["principal"].replace(".", "")) for r in rows) == 500050


def test_table_output_in_chinese():
    with translation.override("zh-hans"):
        text = _run(*ARGS)
    assert "等额本息" in text and "剩余本金" in text and "合计" in text
    assert "8,530.99" in text and "2027-01-31" in text and "2,371.90" in text
    assert "年利率 4.35%" in text


@pytest.mark.parametrize(
    "option, value",
    [
        ("--principal", "-1"),
        ("--principal", "abc"),
        ("--principal", "1.005"),
        ("--annual-rate", "4.35"),
        ("--annual-rate", "x"),
        ("--months", "0"),
        ("--months", "twelve"),
        ("--method", "balloon"),
        ("--start", "2026-02-30"),
        ("--start", ""),
    ],
)
def test_bad_input_names_the_option_and_exits_2(option, value):
    args = list(ARGS)
    args[args.index(option) + 1] = value
    with pytest.raises(CommandError) as caught:
        _run(*args, "--json")
    assert caught.value.returncode == 2
    assert str(caught.value).startswith(f"{option}：")


def test_missing_option_is_named():
    args = ARGS[:4] + ARGS[6:]  # no --months
    with pytest.raises(CommandError) as caught:
        _run(*args)
    assert caught.value.returncode == 2 and str(caught.value).startswith("--months：")


def test_real_command_line(tmp_path):
    env = {**os.environ, "LOANCRM_DATA_DIR": str(tmp_path)}
    loancrm = str(BIN / "loancrm")
    done = subprocess.run(
        [loancrm, "loans", "schedule", *ARGS, "--json"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["period"] for r in rows] == list(range(1, 13))
    assert rows[0]["payment"] == "8530.99" and rows[-1]["balance"] == "0.00"

    bad = [*ARGS, "--json"]
    bad[bad.index("--annual-rate") + 1] = "4.35"
    failed = subprocess.run([loancrm, "loans", "schedule", *bad], env=env, capture_output=True, text=True)
    assert failed.returncode == 2
    assert "--annual-rate" in failed.stderr and "0.0435" in failed.stderr
    assert failed.stdout == ""
