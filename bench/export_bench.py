"""Customer export speed and memory: `loancrm export customers` for N customers, .xlsx and .csv.

    .venv/bin/python bench/export_bench.py [--customers 100000] [--user admin] [--reveal]
    .venv/bin/python bench/export_bench.py --reuse /path/to/data-dir   # e.g. one with 1,000,000 customers

Builds a fresh SQLite data dir (`loancrm migrate`, `loancrm demo-data --customers N`) unless --reuse names
one, then runs the real CLI once per format in a child process (the same service as the web's background
job) and prints rows, seconds, rows/s, file size and the child's own peak RSS (from wait4's rusage). A
baseline in the same run: the customer table read with plain sqlite3 (`SELECT *`, no decryption, no
labels, no scope) and written with csv.writer — the floor for "read rows, write a file".

Memory must not grow with N (rows are streamed); compare peak RSS at --customers 10000 and 100000.
DATABASE_URL is ignored (SQLite only).
"""

import argparse
import csv
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOANCRM = str(ROOT / ".venv" / "bin" / "loancrm")


def prepare(data_dir: Path, n: int) -> None:
    env = {**os.environ, "LOANCRM_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    t0 = time.perf_counter()
    subprocess.run([LOANCRM, "migrate", "-v", "0"], env=env, check=True)
    subprocess.run(
        [LOANCRM, "demo-data", "--customers", str(n)], env=env, check=True, stdout=subprocess.DEVNULL
    )
    print(f"data: {n:,} demo customers in {data_dir} ({time.perf_counter() - t0:.0f} s to build)")


def baseline(data_dir: Path, out: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    db = sqlite3.connect(data_dir / "loancrm.sqlite3")
    cursor = db.execute("SELECT * FROM customers_customer ORDER BY id DESC")
    rows = 0
    with open(out, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([d[0] for d in cursor.description])
        while batch := cursor.fetchmany(2000):
            writer.writerows(batch)
            rows += len(batch)
    db.close()
    return rows, time.perf_counter() - t0


def export(data_dir: Path, out: Path, fmt: str, user: str, reveal: bool) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB of the child alone, its summary line)."""
    env = {**os.environ, "LOANCRM_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    cmd = [LOANCRM, "export", "customers", "--as", user, "--format", fmt, "-o", str(out)]
    if reveal:
        cmd.append("--reveal")
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        sys.exit(f"loancrm export failed ({proc.returncode}):\n{text[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, text.splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--reuse", help="an existing LOANCRM_DATA_DIR with demo data (skips building one)")
    ap.add_argument("--user", default="admin", help="export as this user (admin sees every customer)")
    ap.add_argument(
        "--reveal", action="store_true", help="export unmasked (the user must hold customer.reveal)"
    )
    ap.add_argument("--formats", nargs="+", choices=["xlsx", "csv"], default=["csv", "xlsx"])
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lc-export-bench-") as tmp:
        work = Path(tmp)
        if args.reuse:
            data_dir = Path(args.reuse).resolve()
        else:
            data_dir = work / "data"
            prepare(data_dir, args.customers)
        rows, secs = baseline(data_dir, work / "baseline.csv")
        print(
            f"baseline  sqlite3 SELECT * + csv.writer  rows={rows:,}  seconds={secs:.2f}  rows/s={rows / secs:,.0f}"
        )
        for fmt in args.formats:
            out = work / f"customers.{fmt}"
            seconds, rss_mb, summary = export(data_dir, out, fmt, args.user, args.reveal)
            size_mb = out.stat().st_size / 1e6
            n = int(re.search(r"已导出 (\d+) 位客户", summary).group(1))
            print(
                f"export    {fmt:<4} as {args.user}{' (revealed)' if args.reveal else ''}  rows={n:,}  "
                f"seconds={seconds:.2f}  rows/s={n / seconds:,.0f}  ratio_vs_baseline={secs / seconds:.2f}  "
                f"file_mb={size_mb:.1f}  peak_rss_mb={rss_mb:.0f}"
            )
            print(f"          {summary}")


if __name__ == "__main__":
    sys.exit(main())
