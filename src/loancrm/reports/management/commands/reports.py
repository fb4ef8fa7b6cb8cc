"""`loancrm reports refresh [--days N]`: rebuild the dashboard's daily facts (and the roll rates), as
the worker does every hour (last two days) and every night (everything)."""

import json
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Rebuild the report facts the dashboard reads."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        refresh = sub.add_parser("refresh", help="rebuild the daily facts and roll rates")
        refresh.add_argument("--days", type=int, default=None, help="only the last N days (no roll rates)")

    def handle(self, *args, what: str, days: int | None, **options):
        from loancrm.reports.facts import facts_refresh, rolls_refresh

        t0 = time.perf_counter()
        out = facts_refresh(days=days)
        if days is None:
            out["roll_rows"] = rolls_refresh()
        out["seconds"] = round(time.perf_counter() - t0, 2)
        self.stdout.write(json.dumps(out))
