"""Loan services: disbursement, the repayment ledger, overdue assessment, early repayment, collection,
write-off and the service fee. Dates are relative to ``timezone.localdate()``; expected money is
computed here with plain Decimal arithmetic (or taken from ``schedules.schedule``, whose own tests
check it against an independent calculation)."""

import calendar
import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from loancrm.accounts.scope import scope_queryset
from loancrm.audit.models import AuditEntry
from loancrm.core.models import SystemSetting
from loancrm.intake import services as intake
from loancrm.loans import schedules, services
from loancrm.loans.models import (
    Allocation,
    CollectionAttempt,
    CollectionTask,
    InstallmentStatus,
    Loan,
    LoanStatus,
    LoanTerms,
    OverdueBucket,
    PromiseToPay,
    Repayment,
    RepaymentInstallment,
)

CENT = Decimal("0.01")
RATE = Decimal("0.072")  # 薪易贷's lowest rate, 7.20 %
PENALTY = Decimal("0.0005")  # 薪易贷's 罚息日利率 in the demo terms
add_months = schedules.add_months


def cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def today() -> date:
    return timezone.localdate()


def local_at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def last_31st(before: date) -> date:
    """The latest 31st of a month on or before ``before``."""
    d = before
    while d.day != 31:
        d -= timedelta(days=1)
    return d


def approve(org, products, customer, *, product="xinyidai", amount=30000, months=12):
    """An application taken through the default flow to the 放款 node (as the `approved` fixture)."""
    app = intake.application_create(
        by=customer.owner, customer=customer, product=products[product], amount=amount,
        term_months=months, credit_grade="good",
    )  # fmt: skip
    while app.node.code != "disbursement":
        if app.node.code == "materials":
            for req in intake.missing_materials(app):
                pdf = SimpleUploadedFile(f"{req.kind}.pdf", b"%PDF-1.4\n", content_type="application/pdf")
                intake.material_upload(by=app.owner, application=app, kind=req.kind, upload=pdf)
        for task in list(app.tasks.filter(status="open", visit=app.visit)):
            app = intake.application_act(by=task.assignee, application=app, action="submit")
    return app


@pytest.fixture
def sales1_customers(org, customers):
    return list(customers.filter(owner=org["sales1"], customer_type="individual").order_by("id"))


@pytest.fixture
def make_loan(org, products, sales1_customers):
    """make_loan(disbursed_on, **loan data) → a disbursed loan of its own application (sales1's)."""
    pool = iter(sales1_customers[1:])  # the first is the `approved` fixture's customer

    def make(disbursed_on: date, *, method="annuity", annual_rate=RATE, months=12, amount=30000, **kw):
        app = approve(org, products, next(pool), amount=amount, months=months)
        return services.loan_disburse(
            by=org["finance1"], application=app, contract_no=f"HT-{app.pk}", annual_rate=annual_rate,
            method=method, disbursed_on=disbursed_on, **kw,
        )  # fmt: skip

    return make


@pytest.fixture
def late_loan(make_loan):
    """late_loan(n) → (loan, as_of): its first installment fell due n days before as_of (≤ today)."""

    def make(days: int, **kw):
        target = today() - timedelta(days=days)
        loan = make_loan(add_months(target, -1), **kw)
        as_of = loan.first_due_on + timedelta(days=days)  # = today unless the target has no preimage
        assert as_of <= today()
        return loan, as_of

    return make


def disburse(org, app, **overrides) -> Loan:
    data = {
        "contract_no": "HT-2026-001",
        "annual_rate": RATE,
        "method": "annuity",
        "disbursed_on": today() - timedelta(days=10),
        **overrides,
    }
    return services.loan_disburse(by=org["finance1"], application=app, **data)


def pay(org, loan, amount, paid_on=None, kind=Repayment.Kind.REGULAR) -> Repayment:
    return services.repayment_record(
        by=org["finance1"], loan=loan, amount=amount, paid_on=paid_on or today(), kind=kind
    )


def rows(loan, **filters):
    return list(loan.installments.filter(**filters).order_by("version", "period", "id"))


def left_on(loan, on: date) -> Decimal:
    """What is due on `on` (principal, interest and penalty, accrued to that day, of the rows due by then)."""
    services.loan_assess(loan=loan, as_of=on)
    return sum(
        (
            r.principal_left + r.interest_left + r.penalty_left
            for r in services.open_installments(loan).filter(due_date__lte=on)
        ),
        Decimal("0"),
    )


def assert_ledger(loan: Loan) -> None:
    """The ledger balances to the cent and nothing is paid beyond what was due or below zero."""
    loan.refresh_from_db()
    paid = Repayment.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    allocated = Allocation.objects.filter(repayment__loan=loan).aggregate(s=Sum("amount"))["s"] or Decimal(
        "0"
    )
    assert allocated == paid
    assert not Allocation.objects.filter(repayment__loan=loan, amount__lte=0).exists()
    assert not Allocation.objects.exclude(installment__loan=loan).filter(repayment__loan=loan).exists()
    by_component = {
        (i, c): total
        for i, c, total in Allocation.objects.filter(repayment__loan=loan)
        .values_list("installment_id", "component")
        .annotate(total=Sum("amount"))
    }
    for r in loan.installments.all():
        for comp, due in (
            ("principal", r.principal_due),
            ("interest", r.interest_due),
            ("penalty", r.penalty_accrued),
        ):
            got = getattr(r, f"{comp}_paid")
            assert Decimal("0") <= got <= due, (r.period, r.version, comp, got, due)
            assert by_component.get((r.pk, comp), Decimal("0")) == got, (r.period, comp)
        for field in ("principal_due", "interest_due", "payment_due", "balance_after", "penalty_accrued"):
            assert getattr(r, field) >= 0
        if r.status == InstallmentStatus.CANCELLED:
            assert r.principal_paid == r.interest_paid == r.penalty_paid == 0
        if r.status == InstallmentStatus.PAID:
            assert r.principal_left == r.interest_left == r.penalty_left == 0
        if not r.is_prepayment:  # every row on the grid: k months after 放款日, never drifting
            assert r.due_date == add_months(loan.disbursed_on, r.period), (r.period, r.due_date)
    live = loan.installments.exclude(status=InstallmentStatus.CANCELLED)
    assert live.aggregate(s=Sum("principal_due"))["s"] == loan.principal  # the schedule still repays P
    principal_paid = live.aggregate(s=Sum("principal_paid"))["s"]
    assert loan.outstanding_principal == loan.principal - principal_paid
    still_open = services.open_installments(loan).exists()
    assert (loan.status == LoanStatus.SETTLED) == (not still_open)
    if loan.status == LoanStatus.SETTLED:
        assert loan.outstanding_principal == 0


# --- 1. disbursement ---------------------------------------------------------------------------------


def test_disburse_on_a_31st_creates_the_loan_and_passes_the_node(org, approved):
    start = last_31st(today() - timedelta(days=1))
    loan = disburse(org, approved, disbursed_on=start, comment="已放款")

    expected = schedules.schedule(
        principal=Decimal("30000"), annual_rate=RATE, months=12, method="annuity", start=start
    )
    got = rows(loan)
    assert len(got) == 12
    for k, (row, want) in enumerate(zip(got, expected, strict=True), start=1):
        assert row.period == k
        assert (row.due_date, row.principal_due, row.interest_due, row.payment_due, row.balance_after) == (
            want.due_date, want.principal, want.interest, want.payment, want.balance,
        )  # fmt: skip
        month_index = start.month - 1 + k
        year, month = start.year + month_index // 12, month_index % 12 + 1
        assert row.due_date == date(year, month, calendar.monthrange(year, month)[1])  # month end, no drift
        assert row.status == InstallmentStatus.DUE
    assert sum(r.principal_due for r in got) == Decimal("30000.00")
    assert loan.first_due_on == got[0].due_date
    assert (loan.principal, loan.months, loan.annual_rate, loan.method) == (
        Decimal("30000"),
        12,
        RATE,
        "annuity",
    )
    assert loan.institution == LoanTerms.objects.get(product=approved.product).institution
    assert (loan.owner, loan.department_id, loan.customer_id) == (
        org["sales1"], approved.department_id, approved.customer_id,
    )  # fmt: skip
    assert loan.outstanding_principal == Decimal("30000") and loan.status == LoanStatus.NORMAL
    assert re.fullmatch(r"DK\d{10}-[0-9X]", loan.loan_no)

    approved.refresh_from_db()
    assert approved.status == "disbursed" and approved.node.code == "post_loan"
    entry = AuditEntry.objects.get(action="loan.create")
    assert entry.actor == org["finance1"] and entry.object_id == str(loan.pk)
    assert entry.extra["application"] == approved.application_no


@pytest.mark.parametrize("who", ["sales1", "manager1", "risk1", "approver1", "admin", "auditor1"])
def test_only_the_disbursement_handler_disburses(org, approved, who):
    with pytest.raises(PermissionDenied):
        services.loan_disburse(
            by=org[who], application=approved, contract_no="HT-1", annual_rate=RATE, method="annuity",
            disbursed_on=today(),
        )  # fmt: skip
    assert not Loan.objects.exists() and not RepaymentInstallment.objects.exists()
    approved.refresh_from_db()
    assert approved.status == "approved" and approved.node.code == "disbursement"
    assert AuditEntry.objects.filter(action="permission.denied", actor=org[who]).exists()


def test_a_second_loan_for_the_same_application_is_refused(org, approved):
    disburse(org, approved)
    approved.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.loan_create(
            by=org["finance1"], application=approved, contract_no="HT-2", annual_rate=RATE, method="annuity",
            disbursed_on=today(),
        )  # fmt: skip
    assert "已经登记过放款" in str(exc.value)
    with pytest.raises((PermissionDenied, ValidationError)):
        disburse(org, approved, contract_no="HT-3")
    assert Loan.objects.count() == 1


def test_disburse_needs_the_disbursement_node(org, products, sales1_customers):
    """At 合同签订 the application is approved but not yet at 放款: its handler (the salesperson) may not
    register the loan, and neither may finance, who is not yet a handler."""
    app = intake.application_create(
        by=org["sales1"], customer=sales1_customers[1], product=products["xinyidai"], amount=30000,
        term_months=12, credit_grade="good",
    )  # fmt: skip
    while app.node.code != "contract":
        if app.node.code == "materials":
            for req in intake.missing_materials(app):
                pdf = SimpleUploadedFile(f"{req.kind}.pdf", b"%PDF-1.4\n", content_type="application/pdf")
                intake.material_upload(by=app.owner, application=app, kind=req.kind, upload=pdf)
        for task in list(app.tasks.filter(status="open", visit=app.visit)):
            app = intake.application_act(by=task.assignee, application=app, action="submit")
    assert app.status == "approved"
    for who in ("sales1", "finance1"):
        with pytest.raises(PermissionDenied):
            services.loan_disburse(
                by=org[who], application=app, contract_no="HT-1", annual_rate=RATE, method="annuity",
                disbursed_on=today(),
            )  # fmt: skip
    assert not Loan.objects.exists()
    app.refresh_from_db()
    assert app.node.code == "contract"


def test_a_product_without_loan_terms_is_refused(org, approved):
    LoanTerms.objects.filter(product=approved.product).delete()
    with pytest.raises(ValidationError) as exc:
        disburse(org, approved)
    assert exc.value.message_dict["product"] == [f"产品“{approved.product}”还没有设置资金方和贷款条款"]
    assert not Loan.objects.exists()
    approved.refresh_from_db()
    assert approved.node.code == "disbursement"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contract_no": ""}, "contract_no"),
        ({"contract_no": "   "}, "contract_no"),
        ({"contract_no": "H" * 61}, "contract_no"),
        ({"method": "bullet"}, "method"),  # not among 薪易贷's methods
        ({"method": "balloon"}, "method"),
        ({"annual_rate": "abc"}, "annual_rate"),
        ({"annual_rate": ""}, "annual_rate"),
        ({"annual_rate": None}, "annual_rate"),
        ({"annual_rate": "-7.2%"}, "annual_rate"),
        ({"annual_rate": "NaN"}, "annual_rate"),
        ({"annual_rate": "7.2.1"}, "annual_rate"),
        ({"annual_rate": "72"}, "annual_rate"),
        ({"annual_rate": "7.12345678%"}, "annual_rate"),  # finer than the stored 6 decimals
        ({"principal": "40000"}, "principal"),  # more than the approved 30000
        ({"principal": "0"}, "principal"),
        ({"months": "twelve"}, "months"),
        ({"months": 0}, "months"),
        ({"disbursed_on": "2026-01-01"}, "disbursed_on"),
        ({"disbursed_on": "tomorrow"}, "disbursed_on"),
    ],
)
def test_bad_loan_data_is_refused_with_nothing_created(org, approved, overrides, field):
    if overrides.get("disbursed_on") == "tomorrow":
        overrides = {"disbursed_on": today() + timedelta(days=1)}
    with pytest.raises(ValidationError) as exc:
        disburse(org, approved, **overrides)
    assert field in exc.value.message_dict, exc.value.message_dict
    assert not Loan.objects.exists()
    approved.refresh_from_db()
    assert approved.node.code == "disbursement"


@pytest.mark.parametrize("rate", [Decimal("0.0435"), "0.0435", 0.0435, 4.35, "4.35", "4.35%", " 4.35 % "])
def test_rate_formats(org, approved, rate):
    loan = disburse(org, approved, annual_rate=rate)
    loan.refresh_from_db()
    assert loan.annual_rate == Decimal("0.0435")
    first = rows(loan)[0]
    assert first.interest_due == cents(Decimal("30000") * Decimal("0.0435") / 12)  # 108.75


def test_principal_below_approved_and_service_fee(org, approved):
    loan = disburse(org, approved, principal="12345.67")
    assert loan.principal == Decimal("12345.67")
    assert loan.service_fee == cents(Decimal("12345.67") * Decimal("0.02"))  # 246.91
    assert loan.service_fee_payer == "institution"
    assert sum(r.principal_due for r in rows(loan)) == Decimal("12345.67")


# --- 2. the ledger -------------------------------------------------------------------------------------


def test_regular_partial_late_ahead_and_early_payments_keep_the_ledger_balanced(org, make_loan):
    start = today() - timedelta(days=200)
    loan = make_loan(start)
    due = {r.period: r.due_date for r in rows(loan)}
    plan = {r.period: r for r in rows(loan)}

    pay(org, loan, plan[1].payment_due, due[1])  # on time, exactly
    assert loan.installments.get(period=1).status == InstallmentStatus.PAID
    assert_ledger(loan)

    pay(org, loan, "1000", due[2])  # partial on the due date: interest, then principal
    second = loan.installments.get(period=2)
    assert second.status == InstallmentStatus.PARTIAL and second.interest_paid == plan[2].interest_due
    assert second.principal_paid == Decimal("1000") - plan[2].interest_due
    late_on = due[2] + timedelta(days=20)
    services.loan_assess(loan=loan, as_of=late_on)
    second.refresh_from_db()
    assert second.penalty_accrued == cents(second.principal_left * PENALTY * 20)
    pay(org, loan, left_on(loan, late_on), late_on)  # the rest of it, 20 days late, with its 罚息
    second.refresh_from_db()
    assert second.status == InstallmentStatus.PAID and second.penalty_paid == second.penalty_accrued > 0
    assert_ledger(loan)

    ahead = left_on(loan, due[3]) + plan[4].payment_due + plan[5].interest_due + Decimal("500")
    pay(org, loan, ahead, due[3])  # pays 3, then 4 in full and part of 5 ahead of time
    assert [r.status for r in rows(loan)[2:5]] == ["paid", "paid", "partial"]
    fifth = loan.installments.get(period=5)
    assert (fifth.interest_paid, fifth.principal_paid) == (plan[5].interest_due, Decimal("500"))
    assert_ledger(loan)
    assert services.loan_assess(loan=loan, as_of=due[4] + timedelta(days=3)).days_past_due == 0

    pay(org, loan, left_on(loan, due[5] + timedelta(days=3)), due[5] + timedelta(days=3))
    assert_ledger(loan)

    on = due[6] + timedelta(days=2)
    pay(org, loan, left_on(loan, on) + Decimal("5000"), on, kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    assert (
        loan.outstanding_principal == loan.principal - sum(plan[k].principal_due for k in range(1, 7)) - 5000
    )

    payoff = payoff_of(org, loan)
    pay(org, loan, payoff, kind=Repayment.Kind.EARLY_FULL)
    assert_ledger(loan)
    assert loan.status == LoanStatus.SETTLED


def payoff_of(org, loan, on=None) -> Decimal:
    """The payoff amount, as the refusal of a wrong one states it."""
    with pytest.raises(ValidationError) as exc:
        pay(org, loan, "0.01", on, kind=Repayment.Kind.EARLY_FULL)
    match = re.search(r"提前结清需还 ([\d,]+\.\d\d) 元", exc.value.message_dict["amount"][0])
    assert match, exc.value.message_dict
    return Decimal(match.group(1).replace(",", ""))


def test_paying_more_than_everything_or_out_of_order_is_refused(org, make_loan):
    loan = make_loan(today() - timedelta(days=70))
    total = sum((r.payment_due for r in rows(loan)), Decimal("0"))
    services.loan_assess(loan=loan)
    penalty = sum((r.penalty_accrued for r in rows(loan)), Decimal("0"))
    with pytest.raises(ValidationError) as exc:
        pay(org, loan, total + penalty + CENT)
    assert f"{total + penalty:,.2f}" in exc.value.message_dict["amount"][0]
    pay(org, loan, "100")
    with pytest.raises(ValidationError) as exc:  # a payment dated before the last one recorded
        pay(org, loan, "100", today() - timedelta(days=1))
    assert "paid_on" in exc.value.message_dict
    for bad in ("0", "-5", "abc"):
        with pytest.raises(ValidationError):
            pay(org, loan, bad)
    with pytest.raises(ValidationError):
        pay(org, loan, "100", today() + timedelta(days=1))
    with pytest.raises(PermissionDenied):
        services.repayment_record(by=org["sales1"], loan=loan, amount="100", paid_on=today())
    assert_ledger(loan)
    assert Repayment.objects.filter(loan=loan).count() == 1


KINDS = st.sampled_from(["regular", "regular", "regular", "early_partial", "early_full"])
STEP = st.tuples(
    st.integers(min_value=0, max_value=75),  # days after the previous payment
    KINDS,
    st.sampled_from(["due", "part", "ahead", "odd"]),
    st.integers(min_value=1, max_value=900_000),  # cents, for "part", "ahead" and "odd"
)


@hsettings(
    max_examples=20, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    method=st.sampled_from(["annuity", "equal_principal", "interest_first"]),
    prepayment=st.sampled_from(["reduce_payment", "shorten_term"]),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_random_payment_sequences_keep_the_ledger_balanced(org, approved, method, prepayment, steps):
    """Any sequence of on-time, partial, late, paying-ahead and early (partial or full) payments."""
    start = last_31st(today() - timedelta(days=380))
    LoanTerms.objects.filter(product=approved.product).update(
        methods=[method], prepayment=prepayment, allocation_order=[]
    )
    with transaction.atomic():
        loan = services.loan_create(
            by=org["finance1"], application=approved, contract_no="HT-H", annual_rate=RATE, method=method,
            disbursed_on=start,
        )  # fmt: skip
        on = start
        for gap, kind, size, amount_cents in steps:
            on = min(on + timedelta(days=gap), today())
            loan.refresh_from_db()
            if loan.status == LoanStatus.SETTLED:
                break
            if kind == "early_full":
                amount = payoff_of(org, loan, on)
            else:
                dues = left_on(loan, on)
                extra = Decimal(amount_cents) / 100
                amount = {"due": dues, "part": min(extra, dues), "ahead": dues + extra, "odd": extra}[size]
            try:
                with transaction.atomic():
                    pay(org, loan, amount, on, kind=kind)
            except ValidationError:
                pass  # nothing due, more than everything, or an early repayment not above the dues
            assert_ledger(loan)
        transaction.set_rollback(True)


# --- 3. allocation order ------------------------------------------------------------------------------


def allocated(repayment) -> list[tuple[int, str, Decimal]]:
    return [(a.installment.period, a.component, a.amount) for a in repayment.allocations.order_by("id")]


def test_default_order_is_penalty_interest_principal_oldest_installment_first(org, late_loan):
    loan, as_of = late_loan(45)
    services.loan_assess(loan=loan, as_of=as_of)
    first, second = rows(loan)[:2]
    assert first.penalty_accrued > 0 and second.penalty_accrued > 0
    r = pay(org, loan, first.penalty_accrued + first.interest_due + 100, as_of)
    assert allocated(r) == [
        (1, "penalty", first.penalty_accrued),
        (1, "interest", first.interest_due),
        (1, "principal", Decimal("100")),
    ]
    first.refresh_from_db()
    r = pay(org, loan, first.principal_left + Decimal("1.00"), as_of)
    assert allocated(r) == [(1, "principal", first.principal_due - 100), (2, "penalty", Decimal("1.00"))]
    assert_ledger(loan)


def test_a_configured_order_is_respected(org, approved, late_loan):
    LoanTerms.objects.filter(product=approved.product).update(
        allocation_order=["principal", "interest", "penalty"]
    )
    loan, as_of = late_loan(45)
    assert loan.allocation_order == ["principal", "interest", "penalty"]
    services.loan_assess(loan=loan, as_of=as_of)
    first = rows(loan)[0]
    r = pay(org, loan, first.principal_due + 10, as_of)
    assert allocated(r) == [(1, "principal", first.principal_due), (1, "interest", Decimal("10"))]
    assert_ledger(loan)


def test_an_order_naming_only_principal_still_pays_the_rest_of_the_installment(org, approved, late_loan):
    LoanTerms.objects.filter(product=approved.product).update(allocation_order=["principal"])
    loan, as_of = late_loan(20)
    services.loan_assess(loan=loan, as_of=as_of)
    first = rows(loan)[0]
    r = pay(org, loan, first.principal_due + first.interest_due + first.penalty_accrued, as_of)
    assert [(p, c) for p, c, _ in allocated(r)] == [(1, "principal"), (1, "penalty"), (1, "interest")]
    first.refresh_from_db()
    assert first.status == InstallmentStatus.PAID
    assert_ledger(loan)


# --- 4. overdue ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "M0"), (1, "M1"), (10, "M1"), (30, "M1"), (31, "M2"), (45, "M2"), (60, "M2"), (61, "M3+")],
)
def test_days_past_due_and_bucket(late_loan, days, bucket):
    loan, as_of = late_loan(days)
    loan = services.loan_assess(loan=loan, as_of=as_of)
    assert (loan.days_past_due, loan.bucket) == (days, bucket)
    assert loan.status == (LoanStatus.OVERDUE if days else LoanStatus.NORMAL)
    late = [r for r in rows(loan) if r.due_date < as_of]
    assert loan.overdue_amount == sum((r.payment_due + r.penalty_accrued for r in late), Decimal("0"))
    for r in late:
        assert r.penalty_accrued == cents(r.principal_due * PENALTY * (as_of - r.due_date).days)


def test_penalty_assessed_daily_or_twice_a_day_matches_the_one_shot_amount(late_loan):
    loan, as_of = late_loan(45)
    first_due = loan.first_due_on
    for d in range(1, 46):  # the nightly job, every night
        services.loan_assess(loan=loan, as_of=first_due + timedelta(days=d))
    services.loan_assess(loan=loan, as_of=as_of)  # and again the same day
    first = rows(loan)[0]
    assert first.penalty_accrued == cents(first.principal_due * PENALTY * 45)
    assert first.penalty_through == as_of
    assert services.loan_assess(loan=loan, as_of=as_of).days_past_due == 45


def test_penalty_follows_the_principal_left_after_a_partial_late_payment(org, late_loan):
    loan, as_of = late_loan(45)
    first = rows(loan)[0]
    paid_on = first.due_date + timedelta(days=20)
    services.loan_assess(loan=loan, as_of=paid_on)
    part_penalty = cents(first.principal_due * PENALTY * 20)
    pay(org, loan, part_penalty + first.interest_due + 1000, paid_on)
    services.loan_assess(loan=loan, as_of=as_of)
    first.refresh_from_db()
    assert first.penalty_accrued == part_penalty + cents((first.principal_due - 1000) * PENALTY * 25)
    assert_ledger(loan)


def test_a_payment_recorded_after_the_nightly_run_is_charged_penalty_to_its_own_date(org, late_loan):
    loan, as_of = late_loan(10)
    services.loan_assess(loan=loan, as_of=as_of)  # last night's run
    first = rows(loan)[0]
    paid_on = as_of - timedelta(days=1)  # paid yesterday, entered today
    penalty_then = cents(first.principal_due * PENALTY * 9)
    pay(org, loan, first.payment_due + penalty_then, paid_on)
    first.refresh_from_db()
    assert first.status == InstallmentStatus.PAID and first.penalty_accrued == penalty_then
    assert_ledger(loan)


def test_paying_everything_overdue_brings_the_loan_back_to_m0(org, late_loan):
    loan, as_of = late_loan(45)
    loan = services.loan_assess(loan=loan, as_of=as_of)
    assert loan.bucket == "M2" and CollectionTask.objects.filter(loan=loan, status="open").exists()
    pay(org, loan, loan.overdue_amount, as_of)
    loan = services.loan_assess(loan=loan, as_of=as_of)
    assert (loan.bucket, loan.days_past_due, loan.status, loan.overdue_amount) == ("M0", 0, "normal", 0)
    assert loan.get_status_display() == "正常"
    assert not CollectionTask.objects.filter(loan=loan, status="open").exists()
    assert CollectionTask.objects.filter(loan=loan, status="closed").exclude(close_reason="").exists()
    assert AuditEntry.objects.filter(action="loan.overdue", object_id=str(loan.pk)).exists()
    assert_ledger(loan)


def test_buckets_are_editable(late_loan):
    services.ensure_buckets()
    OverdueBucket.objects.filter(code="M2").update(max_days=40)
    OverdueBucket.objects.filter(code="M3+").update(min_days=41)
    loan, as_of = late_loan(45)
    assert services.loan_assess(loan=loan, as_of=as_of).bucket == "M3+"
    OverdueBucket.objects.create(code="M1A", label="M1（1–7 天）", min_days=1, max_days=7)
    OverdueBucket.objects.filter(code="M1").update(min_days=8)
    loan2, as_of2 = late_loan(5)
    assert services.loan_assess(loan=loan2, as_of=as_of2).bucket == "M1A"


def test_a_gap_between_bucket_ranges_keeps_the_bucket_reached(late_loan):
    services.ensure_buckets()
    OverdueBucket.objects.filter(code="M2").update(min_days=40)  # 31–39 days: in no range
    loan, as_of = late_loan(35)
    assert services.loan_assess(loan=loan, as_of=as_of).bucket == "M1"
    assert services.bucket_for(0) == "M0" and services.bucket_for(500) == "M3+"


def test_loans_assess_all(late_loan):
    (a, _), (b, _) = late_loan(45), late_loan(0)
    assert services.loans_assess_all(as_of=today()) == 2
    a.refresh_from_db(), b.refresh_from_db()
    assert a.assessed_on == b.assessed_on == today()
    assert a.bucket != "M0" and b.bucket == "M0"


# --- 5. early repayment --------------------------------------------------------------------------------


def annuity_payment(principal: Decimal, annual_rate: Decimal, n: int) -> Decimal:
    """round(P·r·(1+r)^n / ((1+r)^n − 1), 2) with exact fractions."""
    from fractions import Fraction

    p, r = Fraction(principal), Fraction(annual_rate) / 12
    exact = p * r * (1 + r) ** n / ((1 + r) ** n - 1)
    return cents(Decimal(exact.numerator) / Decimal(exact.denominator))


def new_version(loan):
    version = max(r.version for r in rows(loan))
    return [r for r in rows(loan, version=version) if not r.is_prepayment], version


def test_early_partial_pays_the_dues_then_principal_and_reduces_the_payment(org, make_loan):
    start = last_31st(today() - timedelta(days=100))
    loan = make_loan(start)
    old = rows(loan)
    passed = [r for r in old if r.due_date <= today()]
    dues = left_on(loan, today())
    assert dues > sum(r.payment_due for r in passed)  # with 罚息: nothing paid so far
    r = pay(org, loan, dues + 10000, kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    assert all(x.status == "paid" for x in rows(loan, version=1) if x.due_date <= today())
    prepay = loan.installments.get(is_prepayment=True)
    assert (prepay.principal_paid, prepay.due_date, prepay.status) == (Decimal("10000"), today(), "paid")
    assert r.allocations.filter(installment=prepay).get().amount == Decimal("10000")
    cancelled = rows(loan, status=InstallmentStatus.CANCELLED)
    assert [x.period for x in cancelled] == [x.period for x in old if x.due_date > today()]

    remaining = Decimal("30000") - sum(x.principal_due for x in passed) - 10000
    assert loan.outstanding_principal == remaining
    new, version = new_version(loan)
    assert version == 2 and len(new) == len(cancelled)  # 减少月供: as many periods
    assert sum(x.principal_due for x in new) == remaining and new[-1].balance_after == 0
    assert [x.period for x in new] == [x.period for x in cancelled]
    assert (
        [x.due_date for x in new]
        == [add_months(start, x.period) for x in new]
        == [x.due_date for x in cancelled]
    )
    assert new[0].payment_due == annuity_payment(remaining, RATE, len(new)) < old[0].payment_due
    assert new[0].interest_due == cents(remaining * RATE / 12)
    expected = schedules.schedule(
        principal=remaining,
        annual_rate=RATE,
        months=len(new),
        method="annuity",
        start=add_months(start, new[0].period - 1),
    )
    assert [(x.principal_due, x.interest_due) for x in new] == [(e.principal, e.interest) for e in expected]


def test_early_partial_must_exceed_the_dues(org, make_loan):
    loan = make_loan(today() - timedelta(days=40))
    dues = left_on(loan, today())
    with pytest.raises(ValidationError) as exc:
        pay(org, loan, dues, kind=Repayment.Kind.EARLY_PARTIAL)
    assert f"{dues:,.2f}" in exc.value.message_dict["amount"][0]
    assert not Repayment.objects.filter(loan=loan).exists()


def test_shorten_term_keeps_the_payment_and_drops_periods(org, approved, make_loan):
    LoanTerms.objects.filter(product=approved.product).update(prepayment="shorten_term")
    start = last_31st(today() - timedelta(days=100))
    loan = make_loan(start)
    old = rows(loan)
    for x in old:
        if x.due_date <= today():
            pay(org, loan, x.payment_due, x.due_date)
    cancelled_count = sum(1 for x in old if x.due_date > today())
    pay(org, loan, "10000", kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    remaining = loan.outstanding_principal
    new, _version = new_version(loan)
    n = next(k for k in range(1, 13) if annuity_payment(remaining, RATE, k) <= old[0].payment_due)
    assert len(new) == n < cancelled_count
    assert all(x.payment_due <= old[0].payment_due for x in new)
    assert sum(x.principal_due for x in new) == remaining
    assert [x.period for x in new] == list(range(12 - cancelled_count + 1, 12 - cancelled_count + 1 + n))
    assert [x.due_date for x in new] == [add_months(start, x.period) for x in new]


def test_early_full_with_the_exact_payoff_settles_the_loan(org, make_loan):
    loan = make_loan(today() - timedelta(days=75))
    services.loan_assess(loan=loan)
    open_rows = list(services.open_installments(loan))
    expected = sum(
        (
            x.principal_left + (x.interest_left + x.penalty_left if x.due_date <= today() else 0)
            for x in open_rows
        ),
        Decimal("0"),
    )
    with pytest.raises(ValidationError) as exc:
        pay(org, loan, expected - CENT, kind=Repayment.Kind.EARLY_FULL)
    assert f"提前结清需还 {expected:,.2f} 元" in exc.value.message_dict["amount"][0]
    assert not Repayment.objects.filter(loan=loan).exists()
    pay(org, loan, expected, kind=Repayment.Kind.EARLY_FULL)
    assert_ledger(loan)
    assert (loan.status, loan.settled_on, loan.outstanding_principal) == ("settled", today(), 0)
    assert not services.open_installments(loan).exists()
    assert services.loan_assess(loan=loan).status == "settled"
    with pytest.raises(ValidationError):
        pay(org, loan, "1")


def test_an_installment_paid_ahead_in_part_is_not_charged_twice_after_early_repayment(org, make_loan):
    start = last_31st(today() - timedelta(days=100))
    loan = make_loan(start)
    old = {x.period: x for x in rows(loan)}
    last_due = max(k for k, x in old.items() if x.due_date <= today())
    for k in range(1, last_due):
        pay(org, loan, old[k].payment_due, old[k].due_date)
    started = last_due + 1
    pay(org, loan, old[last_due].payment_due + old[started].interest_due + 300, old[last_due].due_date)
    assert loan.installments.get(period=started).status == "partial"
    pay(org, loan, "8000", kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    kept = loan.installments.get(period=started, version=1)
    assert (kept.status, kept.principal_due, kept.interest_due) == (
        "paid",
        old[started].principal_due,
        old[started].interest_due,
    )
    live = loan.installments.exclude(status="cancelled").filter(is_prepayment=False, period=started)
    assert live.count() == 1  # one installment for that period, its interest charged once
    new, _ = new_version(loan)
    assert new[0].period == started + 1
    prepay = loan.installments.get(is_prepayment=True)
    assert prepay.principal_paid == 8000 - old[started].principal_due + 300


def test_bullet_early_partial_keeps_the_interest_accrued_on_the_old_balance(org, approved, make_loan):
    LoanTerms.objects.filter(product=approved.product).update(
        methods=["annuity", "equal_principal", "bullet"]
    )
    start = today() - timedelta(days=100)
    loan = make_loan(start, method="bullet")
    (only,) = rows(loan)
    assert (only.period, only.interest_due) == (12, cents(Decimal("30000") * RATE))  # 2160.00
    pay(org, loan, "10000", kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    months_left = sum(1 for k in range(1, 13) if add_months(start, k) > today())
    new, _ = new_version(loan)
    assert len(new) == 1 and (new[0].period, new[0].due_date) == (12, add_months(start, 12))
    assert new[0].principal_due == Decimal("20000")
    assert new[0].interest_due == Decimal("2160.00") - cents(Decimal("10000") * RATE / 12 * months_left)


@pytest.mark.parametrize("method", ["equal_principal", "interest_first"])
def test_other_methods_recalculate_on_the_remaining_principal(org, approved, make_loan, method):
    LoanTerms.objects.filter(product=approved.product).update(methods=[method])
    start = last_31st(today() - timedelta(days=100))
    loan = make_loan(start, method=method)
    pay(org, loan, left_on(loan, today()) + Decimal("12345.67"), kind=Repayment.Kind.EARLY_PARTIAL)
    assert_ledger(loan)
    new, _ = new_version(loan)
    remaining = loan.outstanding_principal
    expected = schedules.schedule(
        principal=remaining,
        annual_rate=RATE,
        months=len(new),
        method=method,
        start=add_months(start, new[0].period - 1),
    )
    assert [(x.principal_due, x.interest_due) for x in new] == [(e.principal, e.interest) for e in expected]
    assert [x.due_date for x in new] == [add_months(start, x.period) for x in new]


# --- 6. collection ---------------------------------------------------------------------------------------


def attempt(user, task, *, at=None, way="phone", result="reached", **kw):
    return services.collection_attempt_record(
        by=user, task=task, way=way, result=result, at=at or local_at(today(), 10), **kw
    )


def open_task(loan) -> CollectionTask:
    return CollectionTask.objects.get(loan=loan, status=CollectionTask.Status.OPEN)


def test_collection_opens_at_m1_for_the_salesperson_and_escalates_at_m2(org, late_loan):
    loan, as_of = late_loan(10)
    services.loan_assess(loan=loan, as_of=as_of)
    m1 = open_task(loan)
    assert (m1.bucket, m1.assignee, m1.next_action_on) == ("M1", org["sales1"], as_of)
    attempt(org["sales1"], m1, note="电话提醒")  # the salesperson works the task given to them
    assert CollectionAttempt.objects.filter(task=m1, by=org["sales1"]).count() == 1

    services.loan_assess(loan=loan, as_of=as_of + timedelta(days=35))  # 45 days late
    m1.refresh_from_db()
    assert m1.status == "closed" and m1.closed_at and "M2" in m1.close_reason
    m2 = open_task(loan)
    collector = m2.assignee
    assert m2.bucket == "M2" and collector != org["sales1"]
    assert collector.has_perm_code("collection.work") and collector.role.code != "admin"
    assert scope_queryset(collector, Loan.objects.all()).filter(pk=loan.pk).exists()
    attempt(collector, m2)
    services.loan_assess(loan=loan, as_of=as_of + timedelta(days=35))
    assert CollectionTask.objects.filter(loan=loan).count() == 2  # the same bucket again: no new task


def test_collection_goes_to_the_least_busy_collector(org, late_loan):
    loans = [late_loan(45) for _ in range(2)]
    for loan, as_of in loans:
        services.loan_assess(loan=loan, as_of=as_of)
    assert {open_task(loan).assignee.username for loan, _ in loans} == {"manager1", "risk1"}


def test_contact_only_inside_the_window(org, late_loan):
    loan, as_of = late_loan(10)
    services.loan_assess(loan=loan, as_of=as_of)
    task = open_task(loan)
    for hour, minute in ((7, 59), (21, 0), (22, 30), (0, 15)):
        with pytest.raises(ValidationError) as exc:
            attempt(org["sales1"], task, at=local_at(today(), hour, minute))
        assert exc.value.message_dict["at"] == ["只能在 08:00 至 21:00 之间联系客户"]
    for hour, minute in ((8, 0), (12, 0), (20, 59)):
        attempt(org["sales1"], task, at=local_at(today(), hour, minute))
    attempt(org["sales1"], task, at=local_at(today(), 22), way="letter")  # a letter is not a contact at night
    assert CollectionAttempt.objects.filter(task=task).count() == 4

    SystemSetting.objects.create(key="collection_contact_from", value=9)
    SystemSetting.objects.create(key="collection_contact_until", value=20)
    with pytest.raises(ValidationError) as exc:
        attempt(org["sales1"], task, at=local_at(today(), 8, 30))
    assert exc.value.message_dict["at"] == ["只能在 09:00 至 20:00 之间联系客户"]


def test_only_the_assignee_or_a_manager_in_scope_records_attempts(org, late_loan):
    loan, as_of = late_loan(10)
    services.loan_assess(loan=loan, as_of=as_of)
    task = open_task(loan)
    for who in ("sales2", "sales3", "risk1", "finance1"):
        with pytest.raises(PermissionDenied):
            attempt(org[who], task)
    attempt(org["manager1"], task)  # sales1's manager
    attempt(org["admin"], task)
    assert CollectionAttempt.objects.filter(task=task).count() == 2


def test_a_promise_to_pay_sets_the_next_action_and_is_checked(org, late_loan):
    loan, as_of = late_loan(45)
    services.loan_assess(loan=loan, as_of=as_of)
    task = open_task(loan)
    collector = task.assignee
    with pytest.raises(ValidationError):
        attempt(
            collector, task, result="promised", promise_on=today() - timedelta(days=1), promise_amount="500"
        )
    with pytest.raises(ValidationError):
        attempt(collector, task, result="promised", promise_on=today(), promise_amount="")
    attempt(collector, task, result="promised", promise_on=today(), promise_amount="500", note="本周内还")
    promise = PromiseToPay.objects.get(task=task)
    assert (promise.promised_on, promise.amount, promise.status) == (today(), Decimal("500"), "open")
    task.refresh_from_db()
    assert task.next_action_on == today() + timedelta(days=1)  # check it the day after

    assert services.promises_check(as_of=today()) == 0  # not due yet
    pay(org, loan, "600")  # kept: paid after the promise, on or before its date (the loan stays late)
    assert services.promises_check(as_of=today() + timedelta(days=1)) == 0
    promise.refresh_from_db()
    assert promise.status == "kept"

    attempt(collector, task, result="promised", promise_on=today(), promise_amount="5000")
    assert services.promises_check(as_of=today() + timedelta(days=1)) == 1  # the 600 was for the first
    broken = PromiseToPay.objects.get(task=task, amount=5000)
    assert broken.status == "broken"
    task.refresh_from_db()
    assert task.next_action_on == today() + timedelta(days=1)


def test_attempts_on_a_closed_task_are_refused(org, late_loan):
    loan, as_of = late_loan(10)
    services.loan_assess(loan=loan, as_of=as_of)
    task = open_task(loan)
    pay(org, loan, left_on(loan, today()))
    task.refresh_from_db()
    assert task.status == "closed"
    with pytest.raises(ValidationError):
        attempt(org["sales1"], task)


# --- 7. write-off and the service fee -------------------------------------------------------------------


def test_write_off_only_at_m3_asked_by_finance_approved_by_another(org, late_loan):
    loan, as_of = late_loan(45)
    services.loan_assess(loan=loan, as_of=as_of)
    with pytest.raises(ValidationError) as exc:
        services.loan_write_off_request(by=org["finance1"], loan=loan, reason="失联")
    assert "M3+" in exc.value.message_dict["reason"][0]
    loan, as_of = late_loan(61)
    services.loan_assess(loan=loan, as_of=as_of)
    with pytest.raises(ValidationError):
        services.loan_write_off_request(by=org["finance1"], loan=loan, reason="  ")
    for who in ("sales1", "manager1", "risk1"):
        with pytest.raises(PermissionDenied):
            services.loan_write_off_request(by=org[who], loan=loan, reason="失联")
    with pytest.raises(ValidationError):  # nothing asked yet
        services.loan_write_off(by=org["approver1"], loan=loan)
    loan = services.loan_write_off_request(by=org["finance1"], loan=loan, reason="失联超过 60 天，申请核销")
    assert loan.status == "overdue" and loan.write_off_requested_by == org["finance1"]
    with pytest.raises(PermissionDenied):  # finance cannot approve
        services.loan_write_off(by=org["finance1"], loan=loan)
    admin = org["admin"]
    loan.write_off_requested_by = admin  # the requester never approves their own request
    loan.save(update_fields=["write_off_requested_by"])
    with pytest.raises(ValidationError):
        services.loan_write_off(by=admin, loan=loan)
    loan.write_off_requested_by = org["finance1"]
    loan.save(update_fields=["write_off_requested_by"])
    loan = services.loan_write_off(by=org["approver1"], loan=loan, comment="同意")
    assert (loan.status, loan.written_off_on) == ("written_off", today())
    assert not CollectionTask.objects.filter(loan=loan, status="open").exists()
    steps = list(AuditEntry.objects.filter(action="loan.write_off", object_id=str(loan.pk)).order_by("id"))
    assert [e.extra["step"] for e in steps] == ["request", "approve"]
    assert steps[0].extra["reason"].startswith("失联")
    with pytest.raises(ValidationError):  # once is enough
        services.loan_write_off(by=org["approver1"], loan=loan)
    assert services.loan_assess(loan=loan).status == "written_off"


def test_service_fee_is_receivable_up_to_the_outstanding_amount(org, make_loan):
    loan = make_loan(today() - timedelta(days=5))
    assert loan.service_fee == cents(Decimal("30000") * Decimal("0.0200")) == Decimal("600.00")
    assert loan.service_fee_outstanding == Decimal("600.00")
    loan = services.service_fee_receive(by=org["finance1"], loan=loan, amount="250.5")
    assert (loan.service_fee_received, loan.service_fee_outstanding) == (Decimal("250.50"), Decimal("349.50"))
    with pytest.raises(ValidationError) as exc:
        services.service_fee_receive(by=org["finance1"], loan=loan, amount="349.51")
    assert "349.50" in exc.value.message_dict["amount"][0]
    for bad in ("0", "-1", "x"):
        with pytest.raises(ValidationError):
            services.service_fee_receive(by=org["finance1"], loan=loan, amount=bad)
    with pytest.raises(PermissionDenied):
        services.service_fee_receive(by=org["sales1"], loan=loan, amount="1")
    loan = services.service_fee_receive(by=org["finance1"], loan=loan, amount="349.50")
    assert loan.service_fee_outstanding == 0
    assert AuditEntry.objects.filter(action="service_fee.receive", object_id=str(loan.pk)).count() == 2


def test_service_fee_follows_the_terms(org, approved):
    LoanTerms.objects.filter(product=approved.product).update(
        service_fee_rate=Decimal("0.0175"), service_fee_payer="customer"
    )
    loan = disburse(org, approved, principal="23456.78")
    assert loan.service_fee == cents(Decimal("23456.78") * Decimal("0.0175"))  # 410.49
    assert loan.service_fee_payer == "customer"


def test_a_promise_counts_payments_from_its_local_day_to_the_day_promised(org, late_loan):
    loan, as_of = late_loan(45)
    services.loan_assess(loan=loan, as_of=as_of)
    task = open_task(loan)

    def promise(created: datetime, promised_on: date, amount="500"):
        return PromiseToPay.objects.create(
            task=task, promised_on=promised_on, amount=Decimal(amount), created_at=created, by=task.assignee
        )

    early = promise(local_at(today() - timedelta(days=20), 10), today() - timedelta(days=15))
    # Made at 07:30 Beijing time, which is the evening before in UTC: a payment that evening is not for it.
    dawn = promise(local_at(today() - timedelta(days=12), 7, 30), today() - timedelta(days=11))
    late = promise(local_at(today() - timedelta(days=10), 10), today() - timedelta(days=8))
    pay(org, loan, "600", today() - timedelta(days=16))  # for `early`
    pay(org, loan, "600", today() - timedelta(days=13))  # before `dawn` was made
    pay(org, loan, "600", today() - timedelta(days=5))  # after `late` was due
    assert services.promises_check(as_of=today()) == 2
    statuses = {p.pk: p.status for p in PromiseToPay.objects.all()}
    assert statuses == {early.pk: "kept", dawn.pk: "broken", late.pk: "broken"}


def test_a_better_bucket_hands_the_task_back(org, late_loan):
    loan, as_of = late_loan(45)
    services.loan_assess(loan=loan, as_of=as_of)
    assert open_task(loan).bucket == "M2"
    first = rows(loan)[0]
    pay(org, loan, first.payment_due + first.penalty_accrued, as_of)  # the oldest installment only
    loan.refresh_from_db()
    assert loan.bucket == "M1" and 0 < loan.days_past_due <= 30
    task = open_task(loan)
    assert (task.bucket, task.assignee) == ("M1", org["sales1"])
    assert CollectionTask.objects.get(loan=loan, bucket="M2").close_reason == "账龄变为 M1"


def test_money_recovered_after_write_off_is_recorded(org, late_loan):
    loan, as_of = late_loan(61)
    services.loan_assess(loan=loan, as_of=as_of)
    services.loan_write_off_request(by=org["finance1"], loan=loan, reason="失联")
    loan = services.loan_write_off(by=org["approver1"], loan=loan)
    services.repayment_record(by=org["finance1"], loan=loan, amount="500", paid_on=today())
    loan.refresh_from_db()
    assert loan.status == "written_off"
    assert sum(a.amount for a in Allocation.objects.filter(repayment__loan=loan)) == 500
