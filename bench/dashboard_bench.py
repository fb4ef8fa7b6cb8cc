"""Each dashboard panel's time at scale (issue 9: ≤ 1 s per panel on SQLite and PostgreSQL).

    .venv/bin/python bench/dashboard_bench.py                      # 1,000,000 customers, 330,000 applications
                                                                   # (300,000 loans, ~3,000,000 instalments)
    .venv/bin/python bench/dashboard_bench.py --customers 100000 --applications 33000 --loans 30000
    .venv/bin/python bench/dashboard_bench.py --postgres           # a fresh PostgreSQL database
    LOANCRM_DATA_DIR=/path .venv/bin/python bench/dashboard_bench.py --reuse

The data comes from the demo-data generator (`--applications/--loans` write the business in bulk). Each
panel is built 5 times per user and filter set, in-process (no HTTP); the median and the maximum are
printed. Baseline in the same run: `SELECT COUNT(*)` over the customers, to compare machines.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "loancrm")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--applications", type=int, default=330_000)
    ap.add_argument("--loans", type=int, default=300_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    if not args.reuse:
        os.environ["LOANCRM_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-dash-")
        if args.postgres:
            import psycopg

            name = f"lc_dash_{uuid.uuid4().hex[:6]}"
            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
            os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
        subprocess.run([CLI, "migrate", "-v", "0"], check=True)
        t0 = time.perf_counter()
        subprocess.run(
            [CLI, "demo-data", "--customers", str(args.customers), "--applications", str(args.applications),
             "--loans", str(args.loans)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"data dir {os.environ['LOANCRM_DATA_DIR']}; demo-data: {time.perf_counter() - t0:.0f} s")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from loancrm.accounts.models import User
    from loancrm.customers.models import Customer
    from loancrm.intake.models import LoanApplication, Transition
    from loancrm.loans.models import Loan, RepaymentInstallment
    from loancrm.reports.facts import facts_refresh, rolls_refresh
    from loancrm.reports.panels import PANELS, ReportFilters

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1]
    counts = {
        "customers": Customer.objects.count(),
        "applications": LoanApplication.objects.count(),
        "transitions": Transition.objects.count(),
        "loans": Loan.objects.count(),
        "installments": RepaymentInstallment.objects.count(),
    }
    print(f"database={engine} " + " ".join(f"{k}={v:,}" for k, v in counts.items()))
    t0 = time.perf_counter()
    facts_refresh()
    t1 = time.perf_counter()
    rolls = rolls_refresh()
    t2 = time.perf_counter()
    print(
        f"worker refresh: daily facts {t1 - t0:.1f} s, roll facts {t2 - t1:.1f} s ({rolls} rows); last 2 days:",
        end=" ",
    )
    t3 = time.perf_counter()
    facts_refresh(days=2)
    print(f"{time.perf_counter() - t3:.2f} s")
    times = []
    for _ in range(5):
        t = time.perf_counter()
        Customer.objects.count()
        times.append(time.perf_counter() - t)
    base = statistics.median(times)
    print(f"baseline COUNT(*) customers: {base * 1000:.0f} ms")
    today = timezone.localdate()
    ranges = {
        "this month": ReportFilters(date_from=today.replace(day=1), date_to=today),
        "last 12 months": ReportFilters(date_from=today - timedelta(days=365), date_to=today),
        "12 months, 抖音": ReportFilters(
            date_from=today - timedelta(days=365), date_to=today, channel="douyin"
        ),
    }
    worst = 0.0
    print(
        f"{'user':<9} {'filters':<16} "
        + " ".join(f"{k:>10}" for k in PANELS)
        + "   (median / max of 5, seconds)"
    )
    for username in ("admin", "manager1", "sales1"):
        user = User.objects.get(username=username)
        for label, f in ranges.items():
            cells = []
            for fn in PANELS.values():
                runs = []
                for _ in range(5):
                    t = time.perf_counter()
                    fn(user, f)
                    runs.append(time.perf_counter() - t)
                worst = max(worst, max(runs))
                cells.append(f"{statistics.median(runs):.3f}/{max(runs):.2f}")
            print(f"{username:<9} {label:<16} " + " ".join(f"{c:>10}" for c in cells))
    print(f"slowest panel build: {worst:.2f} s (target ≤ 1 s): {'met' if worst <= 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
