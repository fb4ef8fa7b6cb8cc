"""Import speed and memory: a clean N-row × 24-column customer sheet, measured two ways in one run.

(a) baseline: python-calamine parses the sheet and one `executemany` puts the raw rows into a fresh
    SQLite table (no validation, no encryption, no indexes) — the floor for "read a sheet, write rows";
(b) the full import through `loancrm import customers` (validation, normalisation, encryption, blind
    indexes, duplicate check, history and audit rows), in a child process whose memory (with its
    helper processes, as proportional set size) is sampled.
Prints rows/s of each and the ratio (b)/(a). Targets (issue 5): ≥ 10,000 rows/s and ≥ 0.5 of the
baseline on SQLite; peak memory < 500 MB for 1,000,000 rows (use --rows 1000000 --format csv; .xlsx
sheets stop at 1,048,576 rows). `--postgres URL` runs (b) against PostgreSQL too (that database is
dropped and created anew: name a scratch one).

    python bench/import_bench.py [--rows 100000] [--format xlsx|csv] [--postgres postgres://…]
"""

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
HEADERS = [
    "客户姓名", "性别", "身份证号码", "出生日期", "婚姻状况", "学历", "现居地址", "手机号码", "微信", "邮箱",
    "职业", "单位名称", "月收入(元)", "社保/公积金缴纳情况", "近期征信查询次数", "开户行", "贷款类型",
    "期望金额", "期望期限(月)", "资金用途", "客户来源渠道", "当前阶段", "所属业务员", "备注",
]  # fmt: skip
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def _id(i: int) -> str:
    birth = date(1960, 1, 1) + timedelta(days=(i // 1000 * 2963) % 16001)
    first17 = f"640104{birth:%Y%m%d}{i % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(first17, W, strict=True))
    return first17 + "10X98765432"[total % 11]


def rows(n: int):
    rng = random.Random(7)
    names = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
    for i in range(n):
        idn = _id(i)
        birth = f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}"
        yield [
            rng.choice(names) + rng.choice(given) + rng.choice(given), "男" if int(idn[16]) % 2 else "女", idn,
            birth, rng.choice(["已婚", "未婚"]), rng.choice(["本科", "大专", "高中/中专"]), "银川市金凤区某小区",
            f"13{(i * 7919) % 1_000_000_000:09d}", f"wx{i}", f"user{i}@example.com", "公司职员", "某商贸有限公司",
            str(rng.randint(3, 30) * 1000), "社保和公积金", str(rng.randint(0, 9)), "宁夏银行",
            rng.choice(["信用贷", "抵押贷"]), f"{rng.randint(1, 50)}万", "12", "经营周转",
            rng.choice(["抖音", "老客户转介绍", "门店到访"]), "新线索", "sales1", "",
        ]  # fmt: skip


def make_sheet(path: Path, n: int, fmt: str) -> None:
    if fmt == "csv":
        import csv

        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADERS)
            w.writerows(rows(n))
        return
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet()
    ws.write_row(0, 0, HEADERS)
    for r, row in enumerate(rows(n), start=1):
        for c, v in enumerate(row):
            ws.write_string(r, c, v)
    wb.close()


def baseline(path: Path, fmt: str, workdir: Path) -> float:
    start = time.perf_counter()
    if fmt == "csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as fh:
            data = list(csv.reader(fh))[1:]
    else:
        from python_calamine import CalamineWorkbook

        data = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[1:]
    db = sqlite3.connect(workdir / "baseline.sqlite3")
    cols = ", ".join(f"c{i} TEXT" for i in range(len(HEADERS)))
    db.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {cols})")
    db.executemany(f"INSERT INTO t VALUES (NULL, {', '.join('?' * len(HEADERS))})", data)
    db.commit()
    db.close()
    return time.perf_counter() - start


def _pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with the forked helpers are split between them, not counted
    in each (their resident sizes summed would count the loaded sheet and Django three times)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    line = next((x for x in text.splitlines() if x.startswith("Pss:")), "Pss: 0 kB")
    return int(line.split()[1]) / 1024


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def full_import(path: Path, env: dict) -> tuple[float, dict, float]:
    """Run `loancrm import` and sample the memory of it and its helper processes every 0.2 s.

    The peak is of their proportional set sizes summed: the memory the import holds. getrusage's
    figure is not used: it counts the pages this bench process holds (the baseline's rows) in every
    child forked from it.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "loancrm"), "import", "customers", str(path), "--as", "sales1", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _pss_mb(proc.pid) + sum(_pss_mb(c) for c in _children(proc.pid)))
        time.sleep(0.2)
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"loancrm import exited {proc.returncode}: {err[-2000:]}")
    return elapsed, json.loads(out.strip().splitlines()[-1]), peak


WRITTEN = {  # what the import writes per customer, and which of those rows are the import's
    "customers_customer": "1 = 1",
    "customers_historicalcustomer": "1 = 1",
    "audit_auditentry": "action = 'customer.create'",
}


def write_floor(imported: Path, env: dict, workdir: Path) -> float:
    """Seconds to write, with plain `executemany`, the very rows the import wrote (customers, their
    history versions, their audit entries) into a fresh, migrated database with the same indexes: the
    part of an import no preparing can shorten on one SQLite writer."""
    fresh = {**env, "LOANCRM_DATA_DIR": str(workdir / "data-floor")}
    prepare(fresh)
    source = sqlite3.connect(imported)
    rows = {t: source.execute(f"SELECT * FROM {t} WHERE {w}").fetchall() for t, w in WRITTEN.items()}
    source.close()
    db = sqlite3.connect(workdir / "data-floor" / "loancrm.sqlite3", isolation_level=None)
    db.execute("PRAGMA cache_size = -65536")  # as the importer sets it
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    for table, data in rows.items():
        if data:
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(data[0]))})", data)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def fresh_postgres(url: str) -> None:
    """Drop and create the database the URL names (on the same server), so each run starts empty."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare(env: dict) -> None:
    subprocess.run([str(BIN / "loancrm"), "migrate", "-v0"], env=env, check=True)
    subprocess.run([str(BIN / "loancrm"), "demo-data", "--customers", "0"], env=env, check=True,
                   capture_output=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    ap.add_argument("--postgres", help="also run the full import against this PostgreSQL database URL")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lc-import-bench-") as tmp:
        work = Path(tmp)
        sheet = work / f"customers.{args.format}"
        t = time.perf_counter()
        make_sheet(sheet, args.rows, args.format)
        print(f"sheet: {args.rows:,} rows × {len(HEADERS)} columns, {sheet.stat().st_size / 1e6:.1f} MB "
              f"({time.perf_counter() - t:.1f} s to write)")  # fmt: skip
        base = baseline(sheet, args.format, work)
        print(f"(a) baseline parse + executemany: {base:.2f} s, {args.rows / base:,.0f} rows/s")
        env = {**os.environ, "LOANCRM_DATA_DIR": str(work / "data")}
        env.pop("DATABASE_URL", None)
        prepare(env)
        elapsed, counts, rss = full_import(sheet, env)
        print(f"(b) loancrm import (SQLite): {elapsed:.2f} s, {args.rows / elapsed:,.0f} rows/s, "
              f"peak memory (PSS, importer + helpers) {rss:.0f} MB, counts {counts}")  # fmt: skip
        print(f"ratio (b)/(a) rows/s: {base / elapsed:.2f}   (targets: ≥ 10,000 rows/s, ratio ≥ 0.5)")
        floor = write_floor(work / "data" / "loancrm.sqlite3", env, work)
        print(f"(c) the import's own rows written again with plain executemany (no preparing): {floor:.2f} s, "
              f"{args.rows / floor:,.0f} rows/s, ratio {base / floor:.2f} — the most (b) could reach")  # fmt: skip
        again, counts2, _rss = full_import(sheet, env)
        print(f"re-import of the same file: {again:.2f} s, created {counts2['created']}, "
              f"skipped {counts2['skipped_duplicates']}")  # fmt: skip
        if args.postgres:
            env_pg = {**env, "DATABASE_URL": args.postgres, "LOANCRM_DATA_DIR": str(work / "data-pg")}
            fresh_postgres(args.postgres)  # the named database is dropped and created anew
            prepare(env_pg)
            elapsed, counts, rss = full_import(sheet, env_pg)
            print(f"(b) loancrm import (PostgreSQL): {elapsed:.2f} s, {args.rows / elapsed:,.0f} rows/s, "
                  f"peak memory {rss:.0f} MB, ratio {base / elapsed:.2f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
