"""How long one scan of the automation rules takes on a large customer base, per rule.

    .venv/bin/python bench/rules_bench.py --customers 100000          # builds a fresh database (SQLite)
    .venv/bin/python bench/rules_bench.py --customers 100000 --postgres
    LOANCRM_DATA_DIR=/path/with/data .venv/bin/python bench/rules_bench.py --reuse

For each default rule: the first scan (which acts) and a repeat scan (which finds everything done), at
tomorrow 10:30 local so every daily rule is open. Baseline in the same run: `SELECT COUNT(*)` over all
customers — a scan that costs a few counts is what "fast at a million customers" means here, since the
worker scans every 5 minutes. Also two `loancrm rules run` processes at once against one alone.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "loancrm")


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument(
        "--postgres", action="store_true", help="a fresh database on postgres://postgres@127.0.0.1"
    )
    args = ap.parse_args()
    if not args.reuse:
        os.environ["LOANCRM_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-rules-")
        if args.postgres:
            import psycopg

            name = f"lc_rules_{uuid.uuid4().hex[:6]}"
            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
            os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
        subprocess.run([CLI, "migrate", "-v", "0"], check=True)
        t0 = time.perf_counter()
        subprocess.run(
            [CLI, "demo-data", "--customers", str(args.customers)], check=True, stdout=subprocess.DEVNULL
        )
        print(f"demo-data {args.customers:,} customers: {time.perf_counter() - t0:.1f} s")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")
    import django

    django.setup()
    from django.conf import settings

    from loancrm.customers.models import Customer
    from loancrm.rules.models import Rule
    from loancrm.rules.services import rules_run

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1]
    n = Customer.objects.count()
    base, _ = timed(lambda: Customer.objects.count(), repeat=5)
    print(f"customers={n:,} database={engine} baseline COUNT(*) = {base * 1000:.1f} ms")
    now = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).replace(hour=10, minute=30, second=0)
    print(f"{'rule':<28} {'first s':>8} {'fired':>7} {'repeat s':>9} {'repeat/COUNT':>13}")
    for rule in Rule.objects.filter(is_active=True).order_by("id"):
        first, summary = timed(lambda code=rule.code: rules_run(now=now, codes=[code], source="bench"))
        again, _ = timed(lambda code=rule.code: rules_run(now=now, codes=[code], source="bench"), repeat=3)
        print(f"{rule.code:<28} {first:8.3f} {summary['fired']:7d} {again:9.3f} {again / base:13.1f}")

    # A full scan with everything done, as the worker sees it every 5 minutes.
    full, summary = timed(lambda: rules_run(now=now, source="bench"), repeat=3)
    print(
        f"full scan, all done: {full:.3f} s ({full / base:.1f} × COUNT), skipped {summary['skipped_already_done']:,}"
    )

    # Two processes at once on the next day (everything daily fires again) against one alone.
    later = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    env = dict(os.environ)

    def procs(k: int, when: str) -> tuple[float, list[dict]]:
        t0 = time.perf_counter()
        ps = [
            subprocess.Popen([CLI, "rules", "run", "--now", when], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(k)
        ]
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in ps]
        return time.perf_counter() - t0, outs

    t_two, outs = procs(2, later)
    print(
        f"two processes at once: {t_two:.2f} s, fired {[o['fired'] for o in outs]} "
        f"(sum {sum(o['fired'] for o in outs)}), skipped {[o['skipped_already_done'] for o in outs]}"
    )
    t_one, outs = procs(1, (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    print(
        f"one process (next day): {t_one:.2f} s, fired {outs[0]['fired']}; ratio two/one {t_two / t_one:.2f}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
