"""Repayment schedules (还款计划) for the four repayment methods of issue 7, correct to the cent.

Pure functions, no database. Every amount is a ``Decimal`` in yuan with exactly two decimals.

Conventions
===========

Inputs (checked by :func:`schedule`; a bad one raises :class:`ScheduleInputError`, which is both a
Django ``ValidationError`` keyed by the field and a ``ValueError``, with a Chinese message):

- ``principal`` 本金: yuan, 0 < P ≤ 1,000,000,000,000, at most two decimals (``Decimal``, ``int`` or
  a numeric string; never a ``float``).
- ``annual_rate`` 年利率: a *fraction*, 0 ≤ rate ≤ 0.36, at most 10 decimals. 4.35 % is ``0.0435``,
  not ``4.35`` (a value above 1 is refused with that hint).
- ``months`` 期数: whole months, 1 ≤ n ≤ 360.
- ``method`` 还款方式: one of ``annuity``, ``equal_principal``, ``interest_first``, ``bullet``.
- ``start`` 起始日: a ``date`` (usually the disbursement date); the first due date is one month later.

Arithmetic:

- Monthly rate r = annual_rate / 12, kept *exact* (as a ratio of integers, never truncated: 0.05 / 12 is
  not 0.0041666…7). All work is done on exact rationals and integer cents; the only roundings are the
  ones listed below, each to the cent (two decimals of a yuan), **half up** (0.005 → 0.01). So an
  exact half cent such as 1.50 × 0.04 / 12 = 0.005 always becomes 0.01.
- ``annuity`` 等额本息: payment A = round(P·r·(1+r)^n / ((1+r)^n − 1), 2); with r = 0, A = round(P/n, 2).
  Each period: interest = round(balance·r, 2), principal = A − interest. The last period's principal is
  the whole remaining balance and its payment = that principal + its interest (it absorbs the rounding).
- ``equal_principal`` 等额本金: principal = round(P/n, 2) each period, the last period takes the
  remainder; interest = round(balance·r, 2) on the balance before the payment.
- ``interest_first`` 先息后本: interest = round(P·r, 2) every period; principal 0 except the last period,
  which repays all of P.
- ``bullet`` 到期一次还本付息: a single installment, numbered n and due n months after the start,
  principal P, interest = round(P·r·n, 2).
- ``balance`` 剩余本金 is the principal still owed after the installment; it ends at 0.00, and the
  principals sum to P exactly. In every row payment = principal + interest, and nothing is negative.
- Very small principals over long terms (only possible below about 0.005·n² yuan, e.g. under 645 yuan
  for 360 months): if a period's principal by the rules above would exceed the remaining balance, that
  period repays just the remaining balance and later periods repay principal 0 (their interest is then
  0 as well), so the balance never goes negative.

Due dates: period k falls k calendar months after ``start``, on the start's day of the month, or on the
last day of the month when that month is shorter. It is always computed from ``start``, never from the
previous due date, so it never drifts: 31 Jan → 28 Feb (29 in a leap year) → 31 Mar → 30 Apr → 31 May.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MAX_PRINCIPAL = Decimal("1000000000000")
MAX_ANNUAL_RATE = Decimal("0.36")
MAX_RATE_DECIMALS = 10
MAX_MONTHS = 360

# Only used to turn integer cents into two-decimal Decimals, independent of the caller's context.
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)


class Method(StrEnum):
    ANNUITY = "annuity"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_FIRST = "interest_first"
    BULLET = "bullet"


METHOD_LABELS = {
    Method.ANNUITY: gettext_lazy("等额本息"),
    Method.EQUAL_PRINCIPAL: gettext_lazy("等额本金"),
    Method.INTEREST_FIRST: gettext_lazy("先息后本"),
    Method.BULLET: gettext_lazy("到期一次还本付息"),
}


@dataclass(frozen=True)
class Installment:
    period: int
    due_date: date
    principal: Decimal
    interest: Decimal
    payment: Decimal
    balance: Decimal

    def as_dict(self) -> dict[str, int | str]:
        """JSON-ready: ISO due date, money as strings with two decimals."""
        return {
            "period": self.period,
            "due_date": self.due_date.isoformat(),
            "principal": f"{self.principal:.2f}",
            "interest": f"{self.interest:.2f}",
            "payment": f"{self.payment:.2f}",
            "balance": f"{self.balance:.2f}",
        }


class ScheduleInputError(ValidationError, ValueError):
    """A bad schedule input. ``field`` names the argument; ``message_dict`` is ``{field: [message]}``."""

    def __init__(self, field: str, message: str):
        super().__init__({field: [message]})
        self.field = field
        self.text = message

    def __str__(self) -> str:
        return f"{self.field}: {self.text}"


def add_months(start: date, k: int) -> date:
    """The date k calendar months after ``start``: same day of the month, or the month's last day."""
    index = start.year * 12 + (start.month - 1) + k
    year, month0 = divmod(index, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise ValueError(_("日期超出范围"))
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _round_ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator (both ≥ 0, denominator > 0) rounded half up to an integer."""
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)


def _yuan(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2, context=_CONTEXT)


def _as_decimal(value, field: str, label: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ScheduleInputError(
            field, _("%(label)s须为 Decimal、整数或数字字符串，不能是浮点数") % {"label": label}
        )
    if isinstance(value, int | str):
        try:
            value = Decimal(str(value).strip())
        except InvalidOperation:
            raise ScheduleInputError(
                field, _("%(label)s不是数字：%(value)s") % {"label": label, "value": value}
            ) from None
    if not isinstance(value, Decimal):
        raise ScheduleInputError(field, _("%(label)s须为数字") % {"label": label})
    if not value.is_finite():
        raise ScheduleInputError(
            field, _("%(label)s不是有效数字：%(value)s") % {"label": label, "value": value}
        )
    return value


def _decimal_places(value: Decimal) -> int:
    """How many decimals ``value`` really has (trailing zeros ignored); ``value`` is finite."""
    _sign, digits, exponent = value.as_tuple()
    if exponent >= 0:
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing)


def _check_principal(value) -> int:
    """The principal in integer cents."""
    label = _("本金")
    principal = _as_decimal(value, "principal", label)
    if principal <= 0:
        raise ScheduleInputError("principal", _("本金须大于 0（收到 %(value)s）") % {"value": value})
    if principal > MAX_PRINCIPAL:
        raise ScheduleInputError(
            "principal",
            _("本金不能超过 %(max)s 元（收到 %(value)s）") % {"max": "1,000,000,000,000", "value": value},
        )
    if _decimal_places(principal) > 2:
        raise ScheduleInputError(
            "principal", _("本金最多两位小数（精确到分，收到 %(value)s）") % {"value": value}
        )
    numerator, denominator = principal.as_integer_ratio()
    return numerator * (100 // denominator)


def _check_rate(value) -> tuple[int, int]:
    """The annual rate as an exact ratio (numerator, denominator)."""
    label = _("年利率")
    rate = _as_decimal(value, "annual_rate", label)
    if rate < 0:
        raise ScheduleInputError("annual_rate", _("年利率不能为负数（收到 %(value)s）") % {"value": value})
    if rate > 1:
        raise ScheduleInputError(
            "annual_rate",
            _("年利率请按小数填写，如 4.35%% 填 0.0435（收到 %(value)s，上限 0.36）") % {"value": value},
        )
    if rate > MAX_ANNUAL_RATE:
        raise ScheduleInputError(
            "annual_rate", _("年利率不能超过 0.36 即 36%%（收到 %(value)s）") % {"value": value}
        )
    if _decimal_places(rate) > MAX_RATE_DECIMALS:
        raise ScheduleInputError(
            "annual_rate",
            _("年利率最多 %(n)s 位小数（收到 %(value)s）") % {"n": MAX_RATE_DECIMALS, "value": value},
        )
    return rate.as_integer_ratio()


def _check_months(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleInputError("months", _("期数须为整数（收到 %(value)s）") % {"value": value})
    if not 1 <= value <= MAX_MONTHS:
        raise ScheduleInputError(
            "months",
            _("期数须在 1 到 %(max)s 个月之间（收到 %(value)s）") % {"max": MAX_MONTHS, "value": value},
        )
    return value


def _check_method(value) -> Method:
    try:
        return Method(value)
    except ValueError:
        choices = "、".join(f"{m.value}（{METHOD_LABELS[m]}）" for m in Method)
        raise ScheduleInputError(
            "method", _("未知的还款方式 %(value)s；可用：%(choices)s") % {"value": value, "choices": choices}
        ) from None


def _check_start(value, months: int) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ScheduleInputError("start", _("起始日须为日期（收到 %(value)s）") % {"value": value})
    try:
        add_months(value, months)
    except ValueError:
        raise ScheduleInputError(
            "start", _("起始日加上期数后超出日期范围（收到 %(value)s）") % {"value": value}
        ) from None
    return value


def schedule(
    *, principal: Decimal, annual_rate: Decimal, months: int, method: Method | str, start: date
) -> list[Installment]:
    """The repayment schedule, one :class:`Installment` per due date (see the module docstring)."""
    p = _check_principal(principal)
    a, b = _check_rate(annual_rate)
    n = _check_months(months)
    method = _check_method(method)
    start = _check_start(start, n)
    q = 12 * b  # monthly rate r = a / q exactly

    def interest_on(balance_cents: int, periods: int = 1) -> int:
        return _round_ratio(balance_cents * a * periods, q)

    rows: list[tuple[int, int, int]] = []  # (period, principal cents, interest cents)
    if method is Method.BULLET:
        rows.append((n, p, interest_on(p, n)))
    elif method is Method.INTEREST_FIRST:
        rows.extend((k, p if k == n else 0, interest_on(p)) for k in range(1, n + 1))
    else:
        if method is Method.EQUAL_PRINCIPAL or a == 0:
            level = _round_ratio(p, n)
        else:
            grown, base = (q + a) ** n, q**n  # (1+r)^n = grown / base
            level = _round_ratio(p * a * grown, q * (grown - base))
        balance = p
        for k in range(1, n + 1):
            interest = interest_on(balance)
            if k == n:
                part = balance
            elif method is Method.EQUAL_PRINCIPAL:
                part = min(level, balance)
            else:
                part = min(level - interest, balance)  # level ≥ interest: A > P·r and balance ≤ P
            rows.append((k, part, interest))
            balance -= part

    result = []
    remaining = p
    for period, part, interest in rows:
        remaining -= part
        result.append(
            Installment(
                period=period,
                due_date=add_months(start, period),
                principal=_yuan(part),
                interest=_yuan(interest),
                payment=_yuan(part + interest),
                balance=_yuan(remaining),
            )
        )
    return result
