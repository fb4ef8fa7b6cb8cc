"""Repayment schedules against an independent calculator (exact fractions, another formulation of each
rule, month lengths found without `calendar`), hand-checked literal rows, and hypothesis properties."""

import itertools
import math
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loancrm.loans.schedules import (
    METHOD_LABELS,
    Installment,
    Method,
    ScheduleInputError,
    add_months,
    schedule,
)

# ---------------------------------------------------------------------------------------------------
# The independent calculator. It shares no code with the product: exact Fractions instead of integer
# cents, the annuity as P·r / (1 − (1+r)^−n), half-up as floor(x + ½), the month's last day as the day
# before the 1st of the next month.


def _half_up_cents(x: Fraction) -> Fraction:
    """x ≥ 0 yuan rounded half up to the cent."""
    return Fraction(math.floor(x * 100 + Fraction(1, 2)), 100)


def _text(x: Fraction) -> str:
    cents = x * 100
    assert cents.denominator == 1, x
    whole, part = divmod(abs(cents.numerator), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{part:02d}"


def _month_end(year: int, month: int) -> int:
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (first_of_next - timedelta(days=1)).day


def _due(start: date, k: int) -> date:
    year, month = start.year, start.month
    for _ in range(k):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(start.day, _month_end(year, month)))


def reference(principal: str, rate: str, n: int, method: str, start: date) -> list[tuple]:
    """Rows (period, due date ISO, principal, interest, payment, balance) as strings."""
    P, r = Fraction(principal), Fraction(rate) / 12
    rows: list[tuple[int, Fraction, Fraction]] = []
    if method == "bullet":
        rows.append((n, P, _half_up_cents(P * r * n)))
    elif method == "interest_first":
        rows.extend((k, P if k == n else Fraction(0), _half_up_cents(P * r)) for k in range(1, n + 1))
    else:
        if method == "equal_principal" or r == 0:
            level = _half_up_cents(P / n)
        else:
            level = _half_up_cents(P * r / (1 - (1 + r) ** -n))
        owed = P
        for k in range(1, n + 1):
            interest = _half_up_cents(owed * r)
            if k == n:
                paid = owed
            else:
                paid = level if method == "equal_principal" else level - interest
                paid = min(paid, owed)  # tiny principals over long terms: never below zero
            rows.append((k, paid, interest))
            owed -= paid
    out, owed = [], P
    for k, paid, interest in rows:
        owed -= paid
        out.append(
            (k, _due(start, k).isoformat(), _text(paid), _text(interest), _text(paid + interest), _text(owed))
        )
    return out


def rows_of(installments: list[Installment]) -> list[tuple]:
    return [
        (i.period, i.due_date.isoformat(), f"{i.principal:.2f}", f"{i.interest:.2f}", f"{i.payment:.2f}",
         f"{i.balance:.2f}")
        for i in installments
    ]  # fmt: skip


def run(principal: str, rate: str, n: int, method: str, start: date) -> list[Installment]:
    return schedule(
        principal=Decimal(principal), annual_rate=Decimal(rate), months=n, method=method, start=start
    )


# ---------------------------------------------------------------------------------------------------
# Hand-checked literal rows.


def test_annuity_100000_at_435_for_12_months_literal():
    rows = rows_of(run("100000", "0.0435", 12, "annuity", date(2026, 1, 31)))
    # r = 0.003625; A = 100000·r·1.003625^12 / (1.003625^12 − 1) = 8530.99 (the figure bank calculators show)
    assert rows[0] == (1, "2026-02-28", "8168.49", "362.50", "8530.99", "91831.51")  # 100000·r = 362.50
    assert rows[1] == (2, "2026-03-31", "8198.10", "332.89", "8530.99", "83633.41")  # 91831.51·r = 332.8892
    assert rows[2][1] == "2026-04-30"
    assert rows[-1] == (12, "2027-01-31", "8500.20", "30.81", "8531.01", "0.00")  # the last absorbs rounding
    assert sum(Decimal(r[3]) for r in rows) == Decimal("2371.90")


def test_equal_principal_120000_at_6_percent_literal():
    rows = rows_of(run("120000", "0.06", 12, "equal_principal", date(2025, 3, 15)))
    # r = 0.005: interest 600, 550, 500, … on balances 120000, 110000, 100000, …
    assert rows[0] == (1, "2025-04-15", "10000.00", "600.00", "10600.00", "110000.00")
    assert rows[1] == (2, "2025-05-15", "10000.00", "550.00", "10550.00", "100000.00")
    assert rows[-1] == (12, "2026-03-15", "10000.00", "50.00", "10050.00", "0.00")


def test_equal_principal_36_months_literal():
    rows = rows_of(run("360000", "0.12", 36, "equal_principal", date(2024, 1, 31)))
    assert rows[0] == (1, "2024-02-29", "10000.00", "3600.00", "13600.00", "350000.00")
    assert rows[1] == (2, "2024-03-31", "10000.00", "3500.00", "13500.00", "340000.00")
    assert rows[-1] == (36, "2027-01-31", "10000.00", "100.00", "10100.00", "0.00")


def test_equal_principal_remainder_in_last_period_literal():
    rows = rows_of(run("100000", "0.0435", 12, "equal_principal", date(2026, 1, 31)))
    assert rows[0] == (1, "2026-02-28", "8333.33", "362.50", "8695.83", "91666.67")
    assert rows[-1][2] == "8333.37"  # 100000 − 11 × 8333.33


def test_interest_first_and_bullet_literal():
    rows = rows_of(run("100000", "0.0435", 12, "interest_first", date(2026, 1, 31)))
    assert rows[0] == (1, "2026-02-28", "0.00", "362.50", "362.50", "100000.00")
    assert rows[-1] == (12, "2027-01-31", "100000.00", "362.50", "100362.50", "0.00")
    assert rows_of(run("100000", "0.0435", 12, "bullet", date(2026, 1, 31))) == [
        (12, "2027-01-31", "100000.00", "4350.00", "104350.00", "0.00")
    ]
    assert rows_of(run("50000", "0.05", 3, "bullet", date(2024, 11, 30))) == [
        (3, "2025-02-28", "50000.00", "625.00", "50625.00", "0.00")  # 50000 × 0.05 / 12 × 3
    ]


def test_zero_rate_literal():
    rows = rows_of(run("1000", "0", 3, "annuity", date(2024, 1, 31)))
    assert rows == [
        (1, "2024-02-29", "333.33", "0.00", "333.33", "666.67"),
        (2, "2024-03-31", "333.33", "0.00", "333.33", "333.34"),
        (3, "2024-04-30", "333.34", "0.00", "333.34", "0.00"),
    ]


def test_exact_half_cents_round_up():
    # 1.50 × 0.04 / 12 = 0.005 exactly; a truncated monthly rate (0.00333…) would give 0.00.
    assert run("1.50", "0.04", 2, "interest_first", date(2024, 1, 1))[0].interest == Decimal("0.01")
    # n = 1: A = P·(1+r) = 1.00 × 1.005 = 1.005 exactly → 1.01.
    (only,) = run("1.00", "0.06", 1, "annuity", date(2024, 1, 1))
    assert (only.principal, only.interest, only.payment) == (
        Decimal("1.00"),
        Decimal("0.01"),
        Decimal("1.01"),
    )
    # 0.03 × 0.01 / 12 × 2 = 0.00005 → 0.00: half-up only at the half cent.
    assert run("0.03", "0.01", 2, "bullet", date(2024, 1, 1))[0].interest == Decimal("0.00")


def test_tiny_principal_over_long_term_never_goes_negative():
    rows = run("100", "0", 360, "equal_principal", date(2024, 1, 31))
    # round(100/360) = 0.28; 357 × 0.28 = 99.96, the 358th pays the last 0.04, the rest pay nothing.
    assert rows[357].principal == Decimal("0.04") and rows[357].balance == Decimal("0.00")
    assert all(r.payment == 0 for r in rows[358:])
    assert rows_of(rows) == reference("100", "0", 360, "equal_principal", date(2024, 1, 31))


# ---------------------------------------------------------------------------------------------------
# Due dates.


@pytest.mark.parametrize(
    "start, expected",
    [
        (date(2026, 1, 31), ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-30"]),
        (date(2024, 1, 31), ["2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"]),
        (date(2024, 1, 30), ["2024-02-29", "2024-03-30", "2024-04-30", "2024-05-30", "2024-06-30"]),
        (date(2023, 1, 29), ["2023-02-28", "2023-03-29", "2023-04-29", "2023-05-29", "2023-06-29"]),
        (date(2024, 2, 29), ["2024-03-29", "2024-04-29", "2024-05-29", "2024-06-29", "2024-07-29"]),
        (date(2025, 12, 31), ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
    ],
)
def test_add_months_stays_on_the_start_day(start, expected):
    assert [add_months(start, k).isoformat() for k in range(1, 6)] == expected


def test_add_months_across_years_and_leap_days():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 48) == date(2028, 2, 29)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2099, 12, 31), 2) == date(2100, 2, 28)  # 2100 is no leap year
    assert add_months(date(2024, 5, 31), 0) == date(2024, 5, 31)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


# ---------------------------------------------------------------------------------------------------
# The table: every method × month-end starts (29th/30th/31st, leap and common years) × zero and
# non-zero rates × 1, 12 and 36 months, against the independent calculator.

STARTS = [
    date(2024, 1, 29),
    date(2024, 1, 30),
    date(2024, 1, 31),
    date(2023, 1, 29),
    date(2023, 1, 31),
    date(2024, 2, 29),
    date(2025, 8, 31),
    date(2027, 12, 30),
]
AMOUNTS = [("100000", "0"), ("100000", "0.0435"), ("12345.67", "0.0599"), ("333333.33", "0.36"), ("1", "0.1")]


@pytest.mark.parametrize(
    "method, start, amount, months",
    list(itertools.product([m.value for m in Method], STARTS, AMOUNTS, [1, 12, 36])),
)
def test_schedule_matches_the_independent_calculator(method, start, amount, months):
    principal, rate = amount
    assert rows_of(run(principal, rate, months, method, start)) == reference(
        principal, rate, months, method, start
    )


@pytest.mark.parametrize("method", [m.value for m in Method])
def test_long_terms_match_the_independent_calculator(method):
    for principal, rate, months in [
        ("1000000", "0.049", 360),
        ("250000", "0.0325", 240),
        ("80000", "0", 360),
    ]:
        start = date(2024, 2, 29)
        assert rows_of(run(principal, rate, months, method, start)) == reference(
            principal, rate, months, method, start
        )


# ---------------------------------------------------------------------------------------------------
# Inputs.


def test_method_accepts_enum_and_string_and_has_labels():
    start = date(2024, 1, 31)
    assert run("100", "0.1", 3, "annuity", start) == run("100", "0.1", 3, Method.ANNUITY, start)
    assert set(METHOD_LABELS) == set(Method)
    assert str(METHOD_LABELS[Method.ANNUITY])


def test_principal_may_be_an_int_or_a_string():
    start = date(2024, 1, 31)
    base = run("100", "0.1", 3, "annuity", start)
    for principal in (100, "100", Decimal("100.000")):
        assert (
            schedule(principal=principal, annual_rate=Decimal("0.1"), months=3, method="annuity", start=start)
            == base
        )


@pytest.mark.parametrize(
    "field, change",
    [
        ("principal", {"principal": Decimal("0")}),
        ("principal", {"principal": Decimal("-5")}),
        ("principal", {"principal": Decimal("1000000000000.01")}),
        ("principal", {"principal": Decimal("10.005")}),
        ("principal", {"principal": 100.5}),
        ("principal", {"principal": Decimal("NaN")}),
        ("principal", {"principal": "abc"}),
        ("annual_rate", {"annual_rate": Decimal("-0.01")}),
        ("annual_rate", {"annual_rate": Decimal("0.3601")}),
        ("annual_rate", {"annual_rate": Decimal("4.35")}),
        ("annual_rate", {"annual_rate": Decimal("0.01234567891")}),
        ("annual_rate", {"annual_rate": Decimal("Infinity")}),
        ("months", {"months": 0}),
        ("months", {"months": 361}),
        ("months", {"months": 12.0}),
        ("months", {"months": True}),
        ("method", {"method": "balloon"}),
        ("start", {"start": "2024-01-31"}),
        ("start", {"start": date(9999, 1, 31)}),
    ],
)
def test_bad_input_names_the_field(field, change):
    kwargs = dict(principal=Decimal("1000"), annual_rate=Decimal("0.05"), months=12, method="annuity")
    kwargs["start"] = date(2024, 1, 31)
    kwargs.update(change)
    with pytest.raises(ScheduleInputError) as caught:
        schedule(**kwargs)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ValidationError)
    assert list(caught.value.message_dict) == [field]
    assert str(caught.value).startswith(f"{field}: ")


def test_limits_are_inclusive():
    start = date(2024, 1, 31)
    assert schedule(principal=Decimal("1000000000000"), annual_rate=Decimal("0.36"), months=360, method="annuity", start=start)  # fmt: skip
    assert schedule(principal=Decimal("0.01"), annual_rate=Decimal("0.0123456789"), months=1, method="bullet", start=start)  # fmt: skip


def test_rate_above_one_explains_the_fraction():
    with pytest.raises(ScheduleInputError) as caught:
        run("100000", "4.35", 12, "annuity", date(2024, 1, 31))
    assert "0.0435" in caught.value.text


# ---------------------------------------------------------------------------------------------------
# Properties.

cents = st.integers(min_value=1, max_value=10**14).map(lambda c: Decimal(c).scaleb(-2))
small_cents = st.integers(min_value=1, max_value=100_000).map(lambda c: Decimal(c).scaleb(-2))
rates = st.integers(min_value=0, max_value=360_000).map(lambda x: Decimal(x).scaleb(-6))
starts = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    principal=st.one_of(cents, small_cents),
    rate=rates,
    months=st.one_of(st.integers(1, 36), st.integers(1, 360)),
    method=st.sampled_from(list(Method)),
    start=starts,
)
def test_schedule_properties(principal, rate, months, method, start):
    rows = schedule(principal=principal, annual_rate=rate, months=months, method=method, start=start)
    assert len(rows) == (1 if method is Method.BULLET else months)
    assert sum(r.principal for r in rows) == principal  # principal sums to P exactly
    assert rows[-1].balance == Decimal("0.00")
    assert rows[-1].period == months and rows[-1].due_date == _due(start, months)
    owed = principal
    for row in rows:
        assert min(row.principal, row.interest, row.payment, row.balance) >= 0
        assert row.payment == row.principal + row.interest
        owed -= row.principal
        assert row.balance == owed
        for value in (row.principal, row.interest, row.payment, row.balance):
            assert value.as_tuple().exponent == -2
        assert row.due_date == _due(start, row.period)  # never drifts: always counted from the start
        assert row.due_date.day in (start.day, _month_end(row.due_date.year, row.due_date.month))
    assert all(a.due_date < b.due_date and a.period < b.period for a, b in itertools.pairwise(rows))


@settings(max_examples=150, deadline=None)
@given(
    principal=st.one_of(cents, small_cents),
    rate=rates,
    months=st.integers(1, 120),
    method=st.sampled_from(list(Method)),
    start=starts,
)
def test_schedule_matches_the_independent_calculator_everywhere(principal, rate, months, method, start):
    got = rows_of(schedule(principal=principal, annual_rate=rate, months=months, method=method, start=start))
    assert got == reference(str(principal), str(rate), months, method.value, start)


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), k=st.integers(0, 400))
def test_add_months_properties(start, k):
    due = add_months(start, k)
    assert due == _due(start, k)
    assert (due.year * 12 + due.month) - (start.year * 12 + start.month) == k
    assert due.day == min(start.day, _month_end(due.year, due.month))
