"""Page latency of the scoped customer list, search, detail and workbench, per role, in-process.

    .venv/bin/python bench/list_latency_bench.py --customers 100000      # builds a fresh database
    LOANCRM_DATA_DIR=/path/with/data .venv/bin/python bench/list_latency_bench.py --reuse

Each page is requested 15 times through Django's test client (no network); prints median and p95 in ms.
Baseline in the same run: the detail page (a primary-key lookup), so figures can be compared as ratios.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--reuse", action="store_true", help="use the existing LOANCRM_DATA_DIR database")
    args = ap.parse_args()
    if not args.reuse:
        os.environ["LOANCRM_DATA_DIR"] = tempfile.mkdtemp(prefix="lc-lat-")
        cli = str(ROOT / ".venv" / "bin" / "loancrm")
        subprocess.run([cli, "migrate", "-v", "0"], check=True)
        subprocess.run(
            [cli, "demo-data", "--customers", str(args.customers)], check=True, stdout=subprocess.DEVNULL
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loancrm.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from loancrm.accounts.models import User
    from loancrm.customers.models import Customer

    settings.STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    n = Customer.objects.count()
    print(f"customers={n:,} database={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[1]}")
    client = Client()
    for username in ("admin", "manager1", "sales1"):
        client.force_login(User.objects.get(username=username))
        own = Customer.objects.filter(owner__username="sales1").order_by("-id")
        sample = own[min(300, own.count() - 1)]
        pages = {
            "detail (baseline)": f"/customers/{sample.pk}/",
            "list page 1": "/customers/",
            "list page 500": "/customers/?page=500",
            "search full phone": f"/customers/?q={sample.phone}",
            "search name prefix": f"/customers/?q={sample.name[:2]}",
            "workbench": "/",
        }
        base = None
        for label, path in pages.items():
            times = []
            for _ in range(15):
                t0 = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200, (username, path, resp.status_code)
            times.sort()
            med, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
            base = base or med
            print(
                f"{username:<9} {label:<20} median={med:7.1f} ms  p95={p95:7.1f} ms  x_detail={med / base:5.1f}"
            )


if __name__ == "__main__":
    sys.exit(main())
