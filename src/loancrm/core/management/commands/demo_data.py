import sys
import time

from django.core.management.base import BaseCommand

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.core.demo.customers import ensure_customers
from loancrm.core.demo.intake import ensure_applications, ensure_products
from loancrm.core.demo.loans import ensure_loan_terms, ensure_loans
from loancrm.core.demo.org import USERS, ensure_org
from loancrm.core.demo.rules import ensure_rule_examples
from loancrm.intake.services import ensure_default_workflow

DEFAULT_PASSWORD = "Demo@2026"


class Command(BaseCommand):
    help = "Create the demo organisation and N demo customers (idempotent; same data for the same seed)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="Total demo customers wanted.")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--applications",
            type=int,
            default=0,
            help="Also N applications in bulk (benchmarks; with --loans).",
        )
        parser.add_argument("--loans", type=int, default=0, help="Of those applications, M disbursed loans.")
        parser.add_argument(
            "--password", default=DEFAULT_PASSWORD, help=f"Password for every demo user ({DEFAULT_PASSWORD})."
        )

    def handle(self, *args, customers, seed, password, **options):
        bulk_applications, bulk_loans = options.get("applications") or 0, options.get("loans") or 0
        t0 = time.perf_counter()
        users = ensure_org(password)
        tty = sys.stdout.isatty()

        def progress(done: int, total: int) -> None:
            if tty or done == total:
                self.stdout.write(f"\r  客户 {done:,}/{total:,}", ending="\n" if done == total else "")
                self.stdout.flush()

        created = ensure_customers(customers, seed, progress=progress)
        ensure_default_workflow()
        products = ensure_products()
        ensure_loan_terms(products)
        applications = ensure_applications(users, seed=seed)
        loans = ensure_loans(seed=seed)
        ensure_rule_examples()
        if bulk_applications:
            from loancrm.core.demo.volume import ensure_volume

            def bulk_progress(made: dict) -> None:
                if tty:
                    self.stdout.write(
                        f"\r  批量进件 {made['applications']:,}/{bulk_applications:,}", ending=""
                    )
                    self.stdout.flush()

            volume = ensure_volume(bulk_applications, bulk_loans, seed=seed, progress=bulk_progress)
            self.stdout.write(
                f"  批量进件 {volume['applications']:,} 笔、贷款 {volume['loans']:,} 笔、还款计划 {volume['installments']:,} 期"
            )
        from loancrm.reports.facts import facts_refresh, rolls_refresh

        facts_refresh()
        rolls_refresh()
        elapsed = time.perf_counter() - t0
        audit_record(
            action=Action.DEMO_DATA,
            actor_username="cli",
            extra={
                "customers": customers,
                "created": created,
                "applications": applications,
                "loans": loans,
                "seed": seed,
            },
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"演示数据就绪：新建客户 {created:,} 位、进件 {applications} 笔、贷款 {loans} 笔，用时 {elapsed:.1f} 秒"
            )
        )
        self.stdout.write(f"演示账户（密码均为 {password}）：")
        for username, full_name, _role, dept in USERS:
            u = users[username]
            self.stdout.write(f"  {username:<10} {u.role!s:<4} {full_name}  {dept}")
