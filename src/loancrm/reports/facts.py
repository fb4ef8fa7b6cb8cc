"""Rebuilding the report facts from the records (the worker: every hour for the last two days, every
night in full). Each rebuild replaces its days in one transaction, so a dashboard never sees half."""

import time as _time
from collections import Counter
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from loancrm.accounts.models import Department
from loancrm.core.dates import local_day_start

from .models import DailyFact, FactRefresh, RollFact

ROLL_MONTHS = 7  # month ends kept for roll rates (six month-over-month moves)


def _regions() -> dict[int, str]:
    return dict(Department.objects.values_list("id", "region"))


def _lead_rows(start: datetime | None, end: datetime | None) -> list[DailyFact]:
    from loancrm.customers.models import Customer, FollowUp

    qs = Customer.objects.all()
    if start:
        qs = qs.filter(created_at__gte=start)
    if end:
        qs = qs.filter(created_at__lt=end)
    timely = FollowUp.objects.filter(
        customer=OuterRef("pk"), at__lte=OuterRef("created_at") + timedelta(hours=24)
    )
    rows = (
        qs.annotate(day=TruncDate("created_at"), on_time=Exists(timely))
        .values("day", "department_id", "owner_id", "channel")
        .annotate(n=Count("id"), t=Count("id", filter=Q(on_time=True)))
        .order_by()
    )
    regions = _regions()
    return [
        DailyFact(
            kind=DailyFact.Kind.LEAD, day=r["day"], department_id=r["department_id"], owner_id=r["owner_id"],
            channel=r["channel"] or "", region=regions.get(r["department_id"], "") or "", count=r["n"], timely=r["t"],
        )
        for r in rows
    ]  # fmt: skip


def _application_rows(start: datetime | None, end: datetime | None) -> list[DailyFact]:
    from loancrm.intake.models import ApplicationStatus, LoanApplication

    qs = LoanApplication.objects.all()
    if start:
        qs = qs.filter(created_at__gte=start)
    if end:
        qs = qs.filter(created_at__lt=end)
    passed = [ApplicationStatus.APPROVED, ApplicationStatus.DISBURSED, ApplicationStatus.CLOSED]
    rows = (
        qs.annotate(day=TruncDate("created_at"))
        .values("day", "department_id", "owner_id", "customer__channel", "product_id", "region")
        .annotate(
            n=Count("id"),
            ok=Count("id", filter=Q(status__in=passed)),
            no=Count("id", filter=Q(status=ApplicationStatus.REJECTED)),
        )
        .order_by()
    )
    return [
        DailyFact(
            kind=DailyFact.Kind.APPLICATION, day=r["day"], department_id=r["department_id"], owner_id=r["owner_id"],
            channel=r["customer__channel"] or "", product_id=r["product_id"], region=r["region"] or "",
            count=r["n"], approved=r["ok"], rejected=r["no"],
        )
        for r in rows
    ]  # fmt: skip


def _loan_rows(start: date | None, end: date | None) -> list[DailyFact]:
    from loancrm.loans.models import Loan

    qs = Loan.objects.all()
    if start:
        qs = qs.filter(disbursed_on__gte=start)
    if end:
        qs = qs.filter(disbursed_on__lt=end)
    rows = (
        qs.values(
            "disbursed_on",
            "department_id",
            "owner_id",
            "customer__channel",
            "product_id",
            "application__region",
        )
        .annotate(n=Count("id"), amount=Sum("principal"))
        .order_by()
    )
    return [
        DailyFact(
            kind=DailyFact.Kind.LOAN, day=r["disbursed_on"], department_id=r["department_id"], owner_id=r["owner_id"],
            channel=r["customer__channel"] or "", product_id=r["product_id"], region=r["application__region"] or "",
            count=r["n"], amount=r["amount"] or 0,
        )
        for r in rows
    ]  # fmt: skip


def facts_refresh(*, days: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Rebuild the daily facts: all of them (days=None), or the last `days` local days."""
    t0 = _time.perf_counter()
    now = now or timezone.now()
    first = timezone.localtime(now).date() - timedelta(days=days - 1) if days else None
    start = local_day_start(first) if first else None
    rows = _lead_rows(start, None) + _application_rows(start, None) + _loan_rows(first, None)
    with transaction.atomic():
        old = DailyFact.objects.all() if first is None else DailyFact.objects.filter(day__gte=first)
        old.delete()
        DailyFact.objects.bulk_create(rows, batch_size=2000)
        FactRefresh.objects.update_or_create(
            name="daily",
            defaults={"refreshed_at": now, "seconds": _time.perf_counter() - t0, "rows": len(rows)},
        )
    return {"rows": len(rows)}


# --- roll rates ----------------------------------------------------------------------------------------


def month_ends(today: date, n: int = ROLL_MONTHS) -> list[date]:
    """The last n month ends before today, oldest first."""
    out, d = [], today.replace(day=1) - timedelta(days=1)
    for _ in range(n):
        out.append(d)
        d = d.replace(day=1) - timedelta(days=1)
    return out[::-1]


def _bucket_of(days: int, table: list[tuple[str, int, int | None]]) -> str:
    for code, low, high in table:
        if days >= low and (high is None or days <= high):
            return code
    return table[-1][0] if table else "M0"


def buckets_at(day: date) -> dict[int, str]:
    """Each loan alive on `day` → its bucket that day, read back from its instalments: days past due
    is `day` minus the earliest instalment due by then and not paid by then."""
    from loancrm.loans.models import InstallmentStatus, Loan, RepaymentInstallment
    from loancrm.loans.services import ensure_buckets

    table = [(b.code, b.min_days, b.max_days) for b in ensure_buckets()]
    alive = Loan.objects.filter(disbursed_on__lte=day).filter(
        Q(settled_on__isnull=True) | Q(settled_on__gt=day),
        Q(written_off_on__isnull=True) | Q(written_off_on__gt=day),
    )
    late = dict(
        RepaymentInstallment.objects.filter(loan__in=alive, is_prepayment=False, due_date__lt=day)
        .exclude(status=InstallmentStatus.CANCELLED)
        .filter(Q(paid_on__isnull=True) | Q(paid_on__gt=day))
        .values("loan_id")
        .annotate(first=Min("due_date"))
        .order_by()
        .values_list("loan_id", "first")
    )
    current = _bucket_of(0, table)
    out = {}
    for loan_id in alive.values_list("pk", flat=True):
        first = late.get(loan_id)
        out[loan_id] = _bucket_of((day - first).days, table) if first else current
    return out


def rolls_refresh(*, today: date | None = None) -> int:
    from loancrm.loans.models import Loan

    ends = month_ends(today or timezone.localdate())
    states = [buckets_at(d) for d in ends]
    who = {
        pk: (dept, owner) for pk, dept, owner in Loan.objects.values_list("pk", "department_id", "owner_id")
    }
    rows = []
    for prev, cur, end in zip(states, states[1:], ends[1:], strict=False):
        moves: Counter = Counter()
        for loan_id, before in prev.items():
            after = cur.get(loan_id)
            if after is not None:
                dept, owner = who.get(loan_id, (None, None))
                moves[(dept, owner, before, after)] += 1
        rows += [
            RollFact(month_end=end, department_id=d, owner_id=o, from_bucket=b, to_bucket=a, count=n)
            for (d, o, b, a), n in moves.items()
        ]
    with transaction.atomic():
        RollFact.objects.all().delete()
        RollFact.objects.bulk_create(rows, batch_size=2000)
        FactRefresh.objects.update_or_create(
            name="rolls", defaults={"refreshed_at": timezone.now(), "rows": len(rows)}
        )
    return len(rows)


def freshness() -> dict[str, datetime | None]:
    return dict(FactRefresh.objects.values_list("name", "refreshed_at"))
