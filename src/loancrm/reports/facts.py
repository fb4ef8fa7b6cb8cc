"""Rebuilding the report facts from the records (the worker: every hour for the last two days, every
night in full). Each rebuild replaces its days in one transaction, so a dashboard never sees half."""

import time as _time
from collections import Counter
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from loancrm.accounts.models import Department
from loancrm.core.dates import local_day_start

from .models import HOUR_BINS, DailyFact, FactRefresh, NodeFact, PortraitFact, RollFact

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
            timed=Count("id", filter=Q(decided_at__isnull=False)),
            took=Sum(_elapsed("decided_at", "created_at"), filter=Q(decided_at__isnull=False)),
        )
        .order_by()
    )
    return [
        DailyFact(
            kind=DailyFact.Kind.APPLICATION, day=r["day"], department_id=r["department_id"], owner_id=r["owner_id"],
            channel=r["customer__channel"] or "", product_id=r["product_id"], region=r["region"] or "",
            count=r["n"], approved=r["ok"], rejected=r["no"], timed=r["timed"], seconds=_seconds(r["took"]),
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
        .annotate(
            n=Count("id"),
            amount=Sum("principal"),
            took=Sum(_elapsed("created_at", "application__created_at")),
        )
        .order_by()
    )
    return [
        DailyFact(
            kind=DailyFact.Kind.LOAN, day=r["disbursed_on"], department_id=r["department_id"], owner_id=r["owner_id"],
            channel=r["customer__channel"] or "", product_id=r["product_id"], region=r["application__region"] or "",
            count=r["n"], amount=r["amount"] or 0, timed=r["n"], seconds=_seconds(r["took"]),
        )
        for r in rows
    ]  # fmt: skip


def collection_days_touched(since: datetime) -> set[date]:
    """Due dates whose collection figures changed since `since`: instalments paid into since then."""
    from loancrm.loans.models import RepaymentInstallment

    return set(
        RepaymentInstallment.objects.filter(allocations__repayment__recorded_at__gte=since)
        .values_list("due_date", flat=True)
        .distinct()
    )


def _collection_rows(start: date | None, touched: set[date] | None = None) -> list[DailyFact]:
    from loancrm.loans.models import InstallmentStatus, RepaymentInstallment

    qs = RepaymentInstallment.objects.filter(is_prepayment=False).exclude(status=InstallmentStatus.CANCELLED)
    if start:
        qs = qs.filter(Q(due_date__gte=start) | Q(due_date__in=sorted(touched or ())))
    rows = (
        qs.values(
            "due_date", "loan__department_id", "loan__owner_id", "loan__customer__channel", "loan__product_id",
            "loan__application__region",
        )
        .annotate(due=Sum("payment_due"), p=Sum("principal_paid") + Sum("interest_paid"), n=Count("id"))
        .order_by()
    )  # fmt: skip
    return [
        DailyFact(
            kind=DailyFact.Kind.COLLECTION, day=r["due_date"], department_id=r["loan__department_id"],
            owner_id=r["loan__owner_id"], channel=r["loan__customer__channel"] or "", product_id=r["loan__product_id"],
            region=r["loan__application__region"] or "", count=r["n"], amount=r["due"] or 0, paid=r["p"] or 0,
        )
        for r in rows.iterator(chunk_size=5000)
    ]  # fmt: skip


def _elapsed(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def _seconds(value) -> int:
    if value is None:
        return 0
    if isinstance(value, timedelta):
        return max(int(value.total_seconds()), 0)
    return max(int(value) // 1_000_000, 0)  # microseconds (SQLite)


def _node_rows(start: datetime | None) -> list[NodeFact]:
    from loancrm.intake.models import Transition
    from loancrm.intake.services import ensure_default_workflow
    from loancrm.intake.workflow import nodes_of

    sla = {n.code: n.sla_hours * 3600 for n in nodes_of(ensure_default_workflow())}
    qs = Transition.objects.filter(seconds_in_node__isnull=False).exclude(from_node="")
    if start:
        qs = qs.filter(at__gte=start)
    binned = Case(
        *[When(seconds_in_node__lt=int(edge * 3600), then=Value(i)) for i, edge in enumerate(HOUR_BINS)],
        default=Value(len(HOUR_BINS)),
        output_field=IntegerField(),
    )
    breach = Case(
        *[
            When(from_node=code, seconds_in_node__gt=limit, then=Value(1))
            for code, limit in sla.items()
            if limit
        ],
        default=Value(0),
        output_field=IntegerField(),
    )
    rows = (
        qs.annotate(day=TruncDate("at"), bin=binned, late=breach)
        .values(
            "day", "application__department_id", "application__owner_id", "application__customer__channel",
            "application__product_id", "application__region", "from_node", "bin",
        )
        .annotate(n=Count("id"), s=Sum("seconds_in_node"), b=Sum("late"))
        .order_by()
    )  # fmt: skip
    facts: dict[tuple, NodeFact] = {}
    for r in rows.iterator(chunk_size=5000):
        key = (
            r["day"], r["application__department_id"], r["application__owner_id"],
            r["application__customer__channel"] or "", r["application__product_id"], r["application__region"] or "",
            r["from_node"],
        )  # fmt: skip
        fact = facts.get(key)
        if fact is None:
            fact = facts[key] = NodeFact(
                day=key[0], department_id=key[1], owner_id=key[2], channel=key[3], product_id=key[4],
                region=key[5], node=key[6],
            )  # fmt: skip
        fact.count += r["n"]
        fact.seconds += r["s"] or 0
        fact.breaches += r["b"] or 0
        setattr(fact, f"h{r['bin']}", getattr(fact, f"h{r['bin']}") + r["n"])
    return list(facts.values())


AMOUNT_EDGES = [50_000, 100_000, 300_000, 1_000_000]
AGE_EDGES = [25, 35, 45, 55, 65]


def _portrait_rows(start: datetime | None, today: date) -> list[PortraitFact]:
    from loancrm.customers.models import Customer

    def years_ago(n: int) -> date:
        try:
            return today.replace(year=today.year - n)
        except ValueError:
            return today.replace(year=today.year - n, day=28)

    qs = Customer.objects.all()
    if start:
        qs = qs.filter(created_at__gte=start)
    amount = Case(
        *[When(expected_amount__lt=edge, then=Value(str(i))) for i, edge in enumerate(AMOUNT_EDGES)],
        When(expected_amount__isnull=False, then=Value(str(len(AMOUNT_EDGES)))),
        default=Value(""),
    )
    age = Case(
        When(birth_date__isnull=True, then=Value("")),
        *[When(birth_date__gt=years_ago(edge), then=Value(str(i))) for i, edge in enumerate(AGE_EDGES)],
        default=Value(str(len(AGE_EDGES))),
    )
    dims = {
        "loan_type": F("loan_type"),
        "amount": amount,
        "age": age,
        "region": F("department__region"),
        "occupation": F("occupation"),
    }
    out = []
    for dim, expr in dims.items():
        rows = (
            qs.annotate(day=TruncDate("created_at"), v=expr)
            .values("day", "department_id", "owner_id", "channel", "department__region", "v")
            .annotate(n=Count("id"))
            .order_by()
        )
        out += [
            PortraitFact(
                day=r["day"], department_id=r["department_id"], owner_id=r["owner_id"], channel=r["channel"] or "",
                region=r["department__region"] or "", dim=dim, value=(r["v"] or "")[:60], count=r["n"],
            )
            for r in rows.iterator(chunk_size=5000)
        ]  # fmt: skip
    return out


def facts_refresh(*, days: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Rebuild the daily facts: all of them (days=None), or the last `days` local days."""
    t0 = _time.perf_counter()
    now = now or timezone.now()
    first = timezone.localtime(now).date() - timedelta(days=days - 1) if days else None
    start = local_day_start(first) if first else None
    # Instalments are paid after they fall due: a partial refresh also redoes the due dates paid into.
    touched = collection_days_touched(start) if start else set()
    rows = _lead_rows(start, None) + _application_rows(start, None) + _loan_rows(first, None)
    collections = _collection_rows(first, touched)
    node_rows = _node_rows(start)
    portrait_rows = _portrait_rows(start, timezone.localtime(now).date())
    with transaction.atomic():
        for model, new in ((DailyFact, rows), (NodeFact, node_rows), (PortraitFact, portrait_rows)):
            old = model.objects.all() if first is None else model.objects.filter(day__gte=first)
            if model is DailyFact:
                old = old.exclude(kind=DailyFact.Kind.COLLECTION)
            old.delete()
            model.objects.bulk_create(new, batch_size=2000)
        old = DailyFact.objects.filter(kind=DailyFact.Kind.COLLECTION)
        if first:
            old = old.filter(Q(day__gte=first) | Q(day__in=sorted(touched)))
        old.delete()
        DailyFact.objects.bulk_create(collections, batch_size=2000)
        FactRefresh.objects.update_or_create(
            name="daily",
            defaults={
                "refreshed_at": now,
                "seconds": _time.perf_counter() - t0,
                "rows": len(rows) + len(node_rows) + len(portrait_rows),
            },
        )
    return {"rows": len(rows), "node_rows": len(node_rows), "portrait_rows": len(portrait_rows)}


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
