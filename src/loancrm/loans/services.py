"""Every write of loans: the loan and its schedule at disbursement, repayments and their allocation,
the daily overdue assessment (罚息, days past due, M-bucket, collection tasks), collection work and
the service fee. Each checks the permission, works in one transaction and writes its audit entry.

Ledger rule: a payment is split into Allocation rows (penalty / interest / principal of an installment)
that add up to the payment exactly; nothing is paid twice and no component goes below zero.
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.accounts.access import record_denial, require_perm
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.customers import numbers
from loancrm.customers.cleaning import positive_yuan

from . import schedules
from .models import (
    DEFAULT_ALLOCATION,
    Allocation,
    CollectionAttempt,
    CollectionTask,
    InstallmentStatus,
    Institution,
    Loan,
    LoanStatus,
    LoanTerms,
    OverdueBucket,
    PostLoanVisit,
    PromiseToPay,
    Repayment,
    RepaymentInstallment,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
LOAN_SEQUENCE = "loan_no"
DEFAULT_BUCKETS = [
    ("M0", "正常", 0, 0),
    ("M1", "M1（1–30 天）", 1, 30),
    ("M2", "M2（31–60 天）", 31, 60),
    ("M3+", "M3+（60 天以上）", 61, None),
]


def next_loan_no(when=None) -> str:
    return numbers.format_number("DK", numbers.reserve(1, LOAN_SEQUENCE)[0], when)


def ensure_buckets() -> list[OverdueBucket]:
    if not OverdueBucket.objects.exists():
        OverdueBucket.objects.bulk_create(
            [
                OverdueBucket(code=c, label=label, min_days=lo, max_days=hi)
                for c, label, lo, hi in DEFAULT_BUCKETS
            ],
            ignore_conflicts=True,  # two first assessments at once
        )
    return list(OverdueBucket.objects.order_by("min_days"))


def bucket_for(days: int, buckets: list[OverdueBucket] | None = None) -> str:
    buckets = buckets or ensure_buckets()
    for b in buckets:
        if days >= b.min_days and (b.max_days is None or days <= b.max_days):
            return b.code
    # The admin left a gap between ranges: the loan stays in the last bucket it has reached.
    reached = [b for b in buckets if b.min_days <= days]
    return max(reached, key=lambda b: b.min_days).code if reached else "M0"


# --- the loan and its schedule -------------------------------------------------------------------


def _write_schedule(
    loan: Loan, rows: list[schedules.Installment], *, version: int, period_offset: int = 0
) -> None:
    RepaymentInstallment.objects.bulk_create(
        [
            RepaymentInstallment(
                loan=loan,
                period=r.period + period_offset,
                due_date=r.due_date,
                principal_due=r.principal,
                interest_due=r.interest,
                payment_due=r.payment,
                balance_after=r.balance,
                version=version,
            )
            for r in rows
        ]
    )


def _annual_rate(value: Any) -> Decimal:
    """The annual rate as a fraction: 0.0435, 4.35 and "4.35%" all mean 4.35 %. It must fit the stored
    six decimals: the schedule and every later recalculation use the stored rate."""
    text = str(value if value is not None else "").strip()
    try:
        rate = Decimal(text.rstrip("%").strip())
        if "%" in text or rate > 1:
            rate = rate / 100  # 4.35 or 4.35% → 0.0435
        exact = rate == rate.quantize(Decimal("0.000001"))
    except ArithmeticError:  # InvalidOperation: not a number, NaN, Infinity
        raise ValidationError({"annual_rate": [_("年利率格式不对，如 0.0435 或 4.35%")]}) from None
    if rate < 0:
        raise ValidationError({"annual_rate": [_("年利率不能为负数")]})
    if not exact:
        raise ValidationError({"annual_rate": [_("年利率最多精确到 0.0001%（小数 6 位）")]})
    return rate


def loan_create(
    *,
    by: User,
    application,
    contract_no: str,
    annual_rate: Any,
    method: str,
    disbursed_on: date,
    principal: Any = None,
    months: int | None = None,
) -> Loan:
    """The loan of an approved application, with its schedule (period k due k months after 放款日)."""
    require_perm(by, Perm.LOAN_DISBURSE)
    from loancrm.intake.models import ApplicationStatus

    # The existing loan first: once disbursed the application is no longer 已批准, and the clearer
    # message is that it already has its loan.
    if Loan.objects.filter(application=application).exists():
        raise ValidationError({"application": [_("这笔申请已经登记过放款")]})
    if application.status != ApplicationStatus.APPROVED:
        raise ValidationError({"application": [_("只有已批准、尚未放款的申请才能登记放款")]})
    terms = LoanTerms.objects.filter(product=application.product).select_related("institution").first()
    if terms is None:
        raise ValidationError(
            {"product": [_("产品“%(p)s”还没有设置资金方和贷款条款") % {"p": application.product}]}
        )
    errors: dict[str, list[str]] = {}
    contract_no = (contract_no or "").strip()
    if not contract_no:
        errors["contract_no"] = [_("请填写合同编号")]
    elif len(contract_no) > Loan._meta.get_field("contract_no").max_length:  # PostgreSQL would refuse it
        errors["contract_no"] = [_("合同编号最多 60 个字符")]
    if terms.methods and method not in terms.methods:
        errors["method"] = [_("该产品不支持这种还款方式")]
    principal = positive_yuan(
        principal if principal not in (None, "") else application.approved_amount, "principal"
    )
    approved_amount = application.approved_amount or application.amount
    if principal > approved_amount:
        errors["principal"] = [_("放款金额不能超过批准额度 %(a)s 元") % {"a": f"{approved_amount:,.2f}"}]
    if months in (None, ""):
        months = application.approved_term_months or application.term_months
    try:
        months = int(months)
    except (TypeError, ValueError):
        errors["months"] = [_("期限请填写整数月数")]
        months = 1
    if isinstance(disbursed_on, date) and disbursed_on > timezone.localdate():
        errors["disbursed_on"] = [_("放款日不能晚于今天")]
    try:
        rate = _annual_rate(annual_rate)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        rate = Decimal("0")
    try:
        rows = schedules.schedule(
            principal=principal, annual_rate=rate, months=months, method=method, start=disbursed_on
        )
    except ValidationError as exc:
        for field, msgs in getattr(exc, "message_dict", {"annual_rate": exc.messages}).items():
            errors.setdefault({"start": "disbursed_on"}.get(field, field), []).extend(msgs)
        rows = []
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        loan = Loan.objects.create(
            loan_no=next_loan_no(),
            application=application,
            customer=application.customer,
            product=application.product,
            institution=terms.institution,
            contract_no=contract_no,
            principal=principal,
            annual_rate=rate,
            months=months,
            method=method,
            disbursed_on=disbursed_on,
            first_due_on=rows[0].due_date,
            penalty_daily_rate=terms.penalty_daily_rate,
            allocation_order=terms.allocation_order or DEFAULT_ALLOCATION,
            prepayment=terms.prepayment,
            outstanding_principal=principal,
            service_fee=(principal * terms.service_fee_rate).quantize(CENT, rounding=ROUND_HALF_UP),
            service_fee_payer=terms.service_fee_payer,
            owner=application.owner,
            department=application.department,
            created_by=by,
        )
        _write_schedule(loan, rows, version=1)
        audit_record(
            action=Action.LOAN_CREATE,
            actor=by,
            obj=loan,
            extra={
                "application": application.application_no,
                "principal": principal,
                "annual_rate": rate,
                "months": months,
                "method": method,
                "disbursed_on": disbursed_on,
            },
        )
    return loan


def loan_disburse(*, by: User, application, comment: str = "", contract_file=None, **loan_data) -> Loan:
    """放款: register the loan and pass the application's 放款 node, both or neither. The signed
    contract (optional here) is kept as a customer attachment and linked to the loan."""
    from loancrm.intake.models import ApplicationStatus, ApplicationTask, LoanApplication, TaskStatus
    from loancrm.intake.services import application_act

    # Checked here, outside the transaction, so that the refusal stays in the audit log.
    require_perm(by, Perm.LOAN_DISBURSE)
    application = LoanApplication.objects.select_related("node", "product").get(pk=application.pk)
    is_handler = ApplicationTask.objects.filter(
        application=application, visit=application.visit, assignee=by, status=TaskStatus.OPEN
    ).exists()
    if not is_handler:
        record_denial(by, "workflow.disbursement", path=f"application:{application.pk}:disburse")
        raise PermissionDenied(_("您不是放款节点的当前处理人"))
    # The handler of an earlier node (合同签订) must not pass it by registering a loan.
    if application.node is None or application.node.status_on_pass != ApplicationStatus.DISBURSED:
        raise ValidationError({"application": [_("申请还没有到放款节点")]})
    attachment = None
    if contract_file is not None:
        from loancrm.customers.services import attachment_store

        attachment = attachment_store(
            customer=application.customer, upload=contract_file, kind=str(_("合同")), uploaded_by=by
        )
    try:
        with transaction.atomic():
            loan = loan_create(by=by, application=application, **loan_data)
            if attachment is not None:
                Loan.objects.filter(pk=loan.pk).update(contract_file=attachment)
                loan.contract_file = attachment
            application_act(by=by, application=application, action="submit", comment=comment)
    except Exception:
        if attachment is not None:
            from loancrm.customers.services import attachment_discard

            attachment_discard(attachment)
        raise
    return loan


def open_installments(loan: Loan):
    return loan.installments.exclude(
        status__in=[InstallmentStatus.PAID, InstallmentStatus.CANCELLED]
    ).order_by("due_date", "period")


# --- penalty, days past due, bucket ------------------------------------------------------------------


def _penalty(
    inst: RepaymentInstallment, rate: Decimal, as_of: date, payments: list[tuple[date, Decimal]]
) -> Decimal:
    """罚息 of one installment from its due date to ``as_of``: for each stretch of days over which its
    principal left did not change, round(principal left × daily rate × days, 2) half up. ``payments``
    are the (paid_on, amount) of the principal paid on it; a payment on day d counts from day d."""
    left = inst.principal_due - sum((a for on, a in payments if on <= inst.due_date), ZERO)
    total, start = ZERO, inst.due_date
    for on, amount in sorted(p for p in payments if inst.due_date < p[0] < as_of):
        total += (left * rate * (on - start).days).quantize(CENT, rounding=ROUND_HALF_UP)
        left, start = left - amount, on
    return total + (left * rate * max((as_of - start).days, 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def _accrue_penalty(loan: Loan, as_of: date) -> None:
    """罚息 on overdue principal through ``as_of``, recomputed from the payments rather than added to:
    the nightly run rounds nothing day by day (45 daily roundings of 2418.57 × 0.0005 would give 54.45,
    not 54.42), assessing twice counts nothing twice, and a payment entered after the night's run
    stops the penalty on its own date."""
    # Also the rows assessed before: a payment dated before the night's run recomputes them to its date.
    late = list(open_installments(loan).filter(Q(due_date__lt=as_of) | Q(penalty_through__isnull=False)))
    if not late:
        return
    payments: dict[int, list[tuple[date, Decimal]]] = {r.pk: [] for r in late}
    for inst_id, on, amount in Allocation.objects.filter(
        installment__in=late, component=Allocation.Component.PRINCIPAL
    ).values_list("installment_id", "repayment__paid_on", "amount"):
        payments[inst_id].append((on, amount))
    for inst in late:
        # An assessment dated before a recorded payment cannot take back penalty already paid.
        accrued = max(_penalty(inst, loan.penalty_daily_rate, as_of, payments[inst.pk]), inst.penalty_paid)
        if (accrued, as_of) != (inst.penalty_accrued, inst.penalty_through):
            inst.penalty_accrued, inst.penalty_through = accrued, as_of
            inst.save(update_fields=["penalty_accrued", "penalty_through"])


def _refresh_state(loan: Loan, as_of: date) -> None:
    open_rows = list(open_installments(loan))
    late = [r for r in open_rows if r.due_date < as_of]
    loan.days_past_due = (as_of - late[0].due_date).days if late else 0
    loan.bucket = bucket_for(loan.days_past_due)
    loan.overdue_amount = sum(
        (r.principal_left + r.interest_left + r.penalty_left for r in late), ZERO
    ).quantize(CENT)
    paid_principal = loan.installments.aggregate(s=Sum("principal_paid"))["s"] or ZERO
    loan.outstanding_principal = max(loan.principal - paid_principal, ZERO)
    loan.assessed_on = as_of
    if loan.status != LoanStatus.WRITTEN_OFF:
        if not open_rows:
            # Settled on the day of the last payment, not on the day it was entered.
            last_paid = loan.installments.aggregate(d=Max("paid_on"))["d"]
            loan.status, loan.settled_on = LoanStatus.SETTLED, loan.settled_on or last_paid or as_of
        else:
            loan.status = LoanStatus.OVERDUE if loan.days_past_due > 0 else LoanStatus.NORMAL
    loan.save(
        update_fields=[
            "days_past_due", "bucket", "overdue_amount", "outstanding_principal", "assessed_on", "status", "settled_on",
        ]
    )  # fmt: skip


def loan_assess(*, loan: Loan, as_of: date | None = None) -> Loan:
    """The day's view of one loan: penalty accrued, days past due, bucket, status, collection task."""
    as_of = as_of or timezone.localdate()
    with transaction.atomic():
        locked = Loan.objects.select_for_update().get(pk=loan.pk)
        if locked.status in (LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF):
            return locked
        before = (locked.status, locked.bucket)
        _accrue_penalty(locked, as_of)
        _refresh_state(locked, as_of)
        _sync_collection(locked, as_of)
        if (locked.status, locked.bucket) != before:
            audit_record(
                action=Action.LOAN_OVERDUE,
                actor_username="system",
                obj=locked,
                extra={"bucket": [before[1], locked.bucket], "days_past_due": locked.days_past_due},
            )
    return locked


def loans_assess_all(*, as_of: date | None = None) -> int:
    """The daily job: every open loan (the worker runs it each night)."""
    count = 0
    for loan_id in Loan.objects.filter(status__in=[LoanStatus.NORMAL, LoanStatus.OVERDUE]).values_list(
        "id", flat=True
    ):
        loan_assess(loan=Loan(pk=loan_id), as_of=as_of)
        count += 1
    return count


# --- repayments ----------------------------------------------------------------------------------------


def _pay(inst: RepaymentInstallment, component: str, available: Decimal) -> Decimal:
    left = {"penalty": inst.penalty_left, "interest": inst.interest_left, "principal": inst.principal_left}[
        component
    ]
    take = min(left, available)
    if take > 0:
        setattr(inst, f"{component}_paid", getattr(inst, f"{component}_paid") + take)
    return take


def _close_if_paid(inst: RepaymentInstallment, on: date) -> None:
    if inst.principal_left <= 0 and inst.interest_left <= 0 and inst.penalty_left <= 0:
        inst.status, inst.paid_on = InstallmentStatus.PAID, on
    elif inst.principal_paid or inst.interest_paid or inst.penalty_paid:
        inst.status = InstallmentStatus.PARTIAL


def allocation_order(loan: Loan) -> list[str]:
    """The loan's order, completed with the components it does not name (in the default order) and
    without unknown ones: an order of just ["principal"] must still pay the interest and 罚息 of a due
    installment before any money goes to the next one."""
    named = [c for c in (loan.allocation_order or []) if c in DEFAULT_ALLOCATION]
    return list(dict.fromkeys(named + DEFAULT_ALLOCATION))


def repayment_record(
    *, by: User, loan: Loan, amount: Any, paid_on: date, kind: str = Repayment.Kind.REGULAR, note: str = ""
) -> Repayment:
    """Record a payment and allocate it: installments oldest first, within each by the loan's order
    (default 罚息 → 利息 → 本金). Money beyond what is due repays the next installments in order; an
    early repayment (提前还款) puts it on principal and recalculates the rest of the schedule.

    An installment already paid in part ahead of its due date (``started``) is finished by an early
    repayment before anything goes to principal, and is kept as it is: the recalculated schedule starts
    after it, so that period's interest is never charged twice."""
    require_perm(by, Perm.REPAYMENT_RECORD)
    amount = positive_yuan(amount, "amount")
    if kind not in Repayment.Kind.values:
        raise ValidationError({"kind": [_("请选择还款类型")]})
    if paid_on > timezone.localdate():
        raise ValidationError({"paid_on": [_("还款日不能晚于今天")]})
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        # A written-off loan still takes payments: money recovered later (核销后收回) is recorded the same way.
        if loan.status == LoanStatus.SETTLED:
            raise ValidationError(
                {"amount": [_("贷款已%(s)s，不能再登记还款") % {"s": loan.get_status_display()}]}
            )
        if paid_on < loan.disbursed_on:
            raise ValidationError({"paid_on": [_("还款日不能早于放款日 %(d)s") % {"d": loan.disbursed_on}]})
        # Payments are allocated in date order: one dated before the last recorded would have been
        # owed less 罚息 and a different installment than the money already allocated after it.
        last = loan.repayments.order_by("-paid_on").values_list("paid_on", flat=True).first()
        if last and paid_on < last:
            raise ValidationError(
                {"paid_on": [_("还款日不能早于上一笔还款的日期 %(d)s") % {"d": last}]}
            )  # fmt: skip
        _accrue_penalty(loan, paid_on)
        rows = list(open_installments(loan))
        due = [r for r in rows if r.due_date <= paid_on]
        future = [r for r in rows if r.due_date > paid_on]
        started = [r for r in future if r.principal_paid or r.interest_paid]
        untouched = [r for r in future if r not in started]
        total_due = sum((r.principal_left + r.interest_left + r.penalty_left for r in due), ZERO)
        first_due = total_due + sum((r.principal_left + r.interest_left for r in started), ZERO)
        outstanding = first_due + sum((r.principal_left for r in untouched), ZERO)
        if kind == Repayment.Kind.EARLY_FULL and amount != outstanding:
            raise ValidationError(
                {
                    "amount": [
                        _("提前结清需还 %(total)s 元（已到期的本息罚息 + 全部剩余本金）")
                        % {"total": f"{outstanding:,.2f}"}
                    ]
                }
            )
        if kind == Repayment.Kind.EARLY_PARTIAL and amount <= first_due:
            raise ValidationError(
                {
                    "amount": [
                        _("提前还款须先还清已到期的 %(due)s 元，超出部分才用于提前还本")
                        % {"due": f"{first_due:,.2f}"}
                    ]
                }
            )
        ceiling = (
            outstanding
            if kind != Repayment.Kind.REGULAR
            else total_due + sum((r.principal_left + r.interest_left for r in future), ZERO)
        )
        if amount > ceiling:
            raise ValidationError(
                {"amount": [_("金额超过应还总额 %(total)s 元") % {"total": f"{ceiling:,.2f}"}]}
            )

        repayment = Repayment.objects.create(
            loan=loan, kind=kind, amount=amount, paid_on=paid_on, note=note[:200], recorded_by=by
        )
        left = amount
        allocations: list[Allocation] = []
        order = allocation_order(loan)

        def allocate(inst, components):
            nonlocal left
            for comp in components:
                took = _pay(inst, comp, left)
                if took > 0:
                    allocations.append(
                        Allocation(repayment=repayment, installment=inst, component=comp, amount=took)
                    )
                    left -= took

        for inst in due:
            allocate(inst, order)
        # Paying ahead: the next installments, interest before principal (for an early repayment only
        # the ones already started, the rest is principal below).
        for inst in future if kind == Repayment.Kind.REGULAR else started:
            allocate(inst, ["interest", "principal"])
        for inst in rows:
            _close_if_paid(inst, paid_on)
            inst.save()
        if kind != Repayment.Kind.REGULAR:
            # 提前还款: the rest is principal, on a row of its own; the future is recalculated.
            version = _next_version(loan)
            if left > 0:
                prepay = RepaymentInstallment.objects.create(
                    loan=loan,
                    period=max([r.period for r in due + started], default=0),
                    due_date=paid_on,
                    principal_due=left,
                    interest_due=ZERO,
                    payment_due=left,
                    balance_after=ZERO,
                    principal_paid=left,
                    status=InstallmentStatus.PAID,
                    paid_on=paid_on,
                    is_prepayment=True,
                    version=version,
                )
                allocations.append(
                    Allocation(repayment=repayment, installment=prepay, component="principal", amount=left)
                )
                left = ZERO
            _recalculate(loan, untouched, version, paid_on)
        if left != 0:  # the ceiling above guarantees every yuan found a place
            raise AssertionError(f"unallocated {left}")
        Allocation.objects.bulk_create(allocations)
        today = timezone.localdate()
        _accrue_penalty(loan, today)  # what is still late keeps accruing from paid_on to today
        _refresh_state(loan, today)
        _sync_collection(loan, today)
        audit_record(
            action=Action.REPAYMENT_RECORD,
            actor=by,
            obj=loan,
            extra={"amount": amount, "paid_on": paid_on, "kind": kind, "allocations": len(allocations)},
        )
    return repayment


def _next_version(loan: Loan) -> int:
    return (loan.installments.order_by("-version").values_list("version", flat=True).first() or 1) + 1


def _recalculate(loan: Loan, untouched: list[RepaymentInstallment], version: int, paid_on: date) -> None:
    """After an early repayment the installments not yet due (and not started) are replaced by a new
    schedule on the remaining principal, on the same due dates: as many periods with a smaller payment
    (减少月供), or fewer periods with no larger payment (缩短期限, annuity only)."""
    for r in untouched:
        r.status = InstallmentStatus.CANCELLED
        r.save(update_fields=["status"])
    paid = loan.installments.aggregate(s=Sum("principal_paid"))["s"] or ZERO
    remaining = loan.principal - paid
    if remaining <= 0 or not untouched:
        return
    first = untouched[0].period
    old_payment = untouched[0].payment_due
    months_left = len(untouched)
    if loan.method == "bullet":
        _write_schedule(
            loan, [_bullet_after_prepayment(loan, untouched[0], remaining, paid_on)], version=version
        )
        return
    if loan.prepayment == LoanTerms.Prepayment.SHORTEN_TERM and loan.method == "annuity" and months_left > 1:
        months_left = _months_for_payment(remaining, loan.annual_rate, old_payment or remaining, months_left)
    rows = schedules.schedule(
        principal=remaining,
        annual_rate=loan.annual_rate,
        months=months_left,
        method=loan.method,
        start=schedules.add_months(loan.disbursed_on, first - 1),
    )
    # Due dates stay on the original grid (k months after 放款日), never drifting from a short month.
    rows = [replace(r, due_date=schedules.add_months(loan.disbursed_on, r.period + first - 1)) for r in rows]
    _write_schedule(loan, rows, version=version, period_offset=first - 1)


def _bullet_after_prepayment(
    loan: Loan, old: RepaymentInstallment, remaining: Decimal, paid_on: date
) -> schedules.Installment:
    """到期一次还本付息 after an early partial repayment: still one installment on the same date; its
    interest keeps what accrued on the old balance and drops the prepaid principal's interest for the
    months from the current one to maturity (the same rule as the other methods, whose first
    recalculated period charges interest on the new balance). A one-month schedule would charge a
    single month's interest on the rest."""
    months_left = sum(
        1 for k in range(1, loan.months + 1) if schedules.add_months(loan.disbursed_on, k) > paid_on
    )
    prepaid = old.principal_due - remaining
    saved = (prepaid * loan.annual_rate * months_left / 12).quantize(CENT, rounding=ROUND_HALF_UP)
    interest = max(old.interest_due - saved, ZERO)
    return schedules.Installment(
        period=old.period, due_date=old.due_date, principal=remaining, interest=interest,
        payment=remaining + interest, balance=ZERO,
    )  # fmt: skip


def _months_for_payment(principal: Decimal, annual_rate: Decimal, payment: Decimal, at_most: int) -> int:
    """Fewest months (≤ at_most) whose annuity payment does not exceed the old one."""
    for n in range(1, at_most + 1):
        row = schedules.schedule(
            principal=principal, annual_rate=annual_rate, months=n, method="annuity", start=date(2000, 1, 1)
        )[0]
        if row.payment <= payment:
            return n
    return at_most


def loan_write_off_request(*, by: User, loan: Loan, reason: str) -> Loan:
    """核销, step 1: finance asks to write off a hopeless loan (M3+ only), with the reason."""
    require_perm(by, Perm.LOAN_DISBURSE)
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("核销必须填写原因和审批依据")]})
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        if loan.status in (LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF):
            raise ValidationError({"reason": [_("贷款已%(s)s，不能核销") % {"s": loan.get_status_display()}]})
        if loan.bucket != "M3+":
            raise ValidationError({"reason": [_("只有 M3+（逾期 60 天以上）的贷款可以核销")]})
        if loan.write_off_requested_at:
            raise ValidationError({"reason": [_("已提交核销申请，等待审批")]})
        loan.write_off_reason, loan.write_off_requested_by = reason.strip()[:300], by
        loan.write_off_requested_at = timezone.now()
        loan.save(update_fields=["write_off_reason", "write_off_requested_by", "write_off_requested_at"])
        audit_record(
            action=Action.LOAN_WRITE_OFF,
            actor=by,
            obj=loan,
            extra={"step": "request", "reason": reason.strip()},
        )
    return loan


def loan_write_off(*, by: User, loan: Loan, approve: bool = True, comment: str = "") -> Loan:
    """核销, step 2: an approver (intake.approve, not the requester) approves or turns it down.
    The loan is kept, so money recovered later can still be recorded."""
    require_perm(by, Perm.INTAKE_APPROVE)
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        if not loan.write_off_requested_at or loan.status == LoanStatus.WRITTEN_OFF:
            raise ValidationError({"reason": [_("没有待审批的核销申请")]})
        if loan.write_off_requested_by_id == by.pk:
            raise ValidationError({"reason": [_("核销须由申请人以外的审批人批准")]})
        if approve:
            loan.status, loan.written_off_on = LoanStatus.WRITTEN_OFF, timezone.localdate()
            CollectionTask.objects.filter(loan=loan, status=CollectionTask.Status.OPEN).update(
                status=CollectionTask.Status.CLOSED, closed_at=timezone.now(), close_reason=_("已核销")
            )
        else:
            loan.write_off_requested_at, loan.write_off_requested_by = None, None
        loan.save(
            update_fields=["status", "written_off_on", "write_off_requested_at", "write_off_requested_by"]
        )
        audit_record(
            action=Action.LOAN_WRITE_OFF,
            actor=by,
            obj=loan,
            extra={
                "step": "approve" if approve else "decline",
                "reason": loan.write_off_reason,
                "comment": comment,
            },
        )
    return loan


def service_fee_receive(*, by: User, loan: Loan, amount: Any) -> Loan:
    require_perm(by, Perm.REPAYMENT_RECORD)
    amount = positive_yuan(amount, "amount")
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        if amount > loan.service_fee_outstanding:
            raise ValidationError(
                {
                    "amount": [
                        _("超过未收服务费 %(left)s 元") % {"left": f"{loan.service_fee_outstanding:,.2f}"}
                    ]
                }
            )
        loan.service_fee_received += amount
        loan.save(update_fields=["service_fee_received"])
        audit_record(action=Action.SERVICE_FEE_RECEIVE, actor=by, obj=loan, extra={"amount": amount})
    return loan


# --- collection ---------------------------------------------------------------------------------------


def _collector_for(loan: Loan) -> User | None:
    """M1: the loan's salesperson; M2 and later: the least busy collector (催收作业) who sees it."""
    from loancrm.accounts.scope import in_scope

    if loan.bucket == "M1" and loan.owner and loan.owner.is_active:
        return loan.owner
    people = []
    for u in User.objects.filter(is_active=True).exclude(role__isnull=True):
        if not u.has_perm_code(Perm.COLLECTION_WORK) or u.role.code == "admin":
            continue
        if in_scope(u, owner_id=loan.owner_id, department_id=loan.department_id):
            people.append(u)
    if not people:
        return loan.owner
    load = dict(
        CollectionTask.objects.filter(status=CollectionTask.Status.OPEN)
        .values_list("assignee")
        .annotate(n=Count("id"))
    )
    return min(people, key=lambda u: (load.get(u.pk, 0), u.username))


def _sync_collection(loan: Loan, as_of: date) -> None:
    """Open a task when a loan falls behind, hand it on when its bucket worsens, close it when current."""
    task = CollectionTask.objects.filter(loan=loan, status=CollectionTask.Status.OPEN).first()
    if loan.days_past_due <= 0 or loan.status in (LoanStatus.SETTLED, LoanStatus.WRITTEN_OFF):
        if task:
            task.status, task.closed_at, task.close_reason = (
                CollectionTask.Status.CLOSED,
                timezone.now(),
                _("已还清逾期款项"),
            )
            task.save()
            PromiseToPay.objects.filter(task=task, status=PromiseToPay.Status.OPEN).update(
                status=PromiseToPay.Status.KEPT
            )
        return
    if task and task.bucket == loan.bucket:
        return
    assignee = _collector_for(loan)
    if assignee is None:
        return
    if task:  # escalation (升级): a worse bucket goes to the next collector, a better one back
        task.status, task.closed_at, task.close_reason = (
            CollectionTask.Status.CLOSED,
            timezone.now(),
            _("账龄变为 %(b)s") % {"b": loan.bucket},  # worse (升级) or, after a partial payment, better
        )
        task.save()
    CollectionTask.objects.create(loan=loan, assignee=assignee, bucket=loan.bucket, next_action_on=as_of)


def contact_window() -> tuple[int, int]:
    from loancrm.core.models import setting_value

    return int(setting_value("collection_contact_from")), int(setting_value("collection_contact_until"))


def collection_attempt_record(
    *, by: User, task: CollectionTask, way: str, result: str, note: str = "", at=None,
    promise_on: date | None = None, promise_amount: Any = None,
) -> CollectionAttempt:  # fmt: skip
    """A contact attempt; a phone call, SMS or visit only between 08:00 and 21:00 (行业催收自律公约)."""
    from loancrm.accounts.scope import scope_queryset

    task = CollectionTask.objects.select_related("loan").get(pk=task.pk)  # its status now, not the caller's
    # The assignee works their own task even without 催收作业: an M1 task goes to the loan's salesperson,
    # whose role does not hold it. Anyone else needs 催收作业 and 分配 (a manager) and the loan in scope.
    if not (task.assignee_id == by.pk and by.is_active):
        require_perm(by, Perm.COLLECTION_WORK, path=f"collection:{task.pk}")
        in_scope = scope_queryset(by, Loan.objects.filter(pk=task.loan_id)).exists()
        if not (by.has_perm_code(Perm.CUSTOMER_ASSIGN) and in_scope):
            record_denial(by, Perm.COLLECTION_WORK, path=f"collection:{task.pk}")
            raise PermissionDenied(_("这不是您的催收任务"))
    if task.status != CollectionTask.Status.OPEN:
        raise ValidationError({"task": [_("催收任务已结束，不能再登记催收记录")]})
    at = at or timezone.now()
    start, end = contact_window()
    hour = timezone.localtime(at).hour
    if way != CollectionAttempt.Way.LETTER and not start <= hour < end:
        raise ValidationError(
            {"at": [_("只能在 %(a)s 至 %(b)s 之间联系客户") % {"a": f"{start:02d}:00", "b": f"{end:02d}:00"}]}
        )
    if way not in CollectionAttempt.Way.values or result not in CollectionAttempt.Result.values:
        raise ValidationError({"way": [_("请选择联系方式和结果")]})
    if result == CollectionAttempt.Result.PROMISED:
        if not promise_on or promise_on < timezone.localdate():
            raise ValidationError({"promise_on": [_("请填写不早于今天的承诺还款日")]})
        promise_amount = positive_yuan(promise_amount, "promise_amount")
    with transaction.atomic():
        attempt = CollectionAttempt.objects.create(task=task, at=at, way=way, result=result, note=note, by=by)
        next_on = timezone.localdate() + timedelta(days=1)
        if result == CollectionAttempt.Result.PROMISED:
            PromiseToPay.objects.create(task=task, promised_on=promise_on, amount=promise_amount, by=by)
            next_on = promise_on + timedelta(days=1)  # check the promise the day after
        CollectionTask.objects.filter(pk=task.pk).update(next_action_on=next_on)
        audit_record(
            action=Action.COLLECTION_ATTEMPT,
            actor=by,
            obj=task.loan,
            extra={"way": way, "result": result, "promise_on": promise_on, "promise_amount": promise_amount},
        )
    return attempt


def promises_check(*, as_of: date | None = None) -> int:
    """Daily: a promise whose date passed without the money is broken; the task is due again today."""
    as_of = as_of or timezone.localdate()
    broken = 0
    for p in PromiseToPay.objects.filter(
        status=PromiseToPay.Status.OPEN, promised_on__lt=as_of
    ).select_related("task"):
        # Paid from the (local) day of the promise up to the day promised: a later payment is late.
        paid = (
            Repayment.objects.filter(
                loan_id=p.task.loan_id,
                paid_on__gte=timezone.localdate(p.created_at),
                paid_on__lte=p.promised_on,
            ).aggregate(s=Sum("amount"))["s"]
            or ZERO
        )
        p.status = PromiseToPay.Status.KEPT if paid >= p.amount else PromiseToPay.Status.BROKEN
        p.save(update_fields=["status"])
        if p.status == PromiseToPay.Status.BROKEN:
            broken += 1
            CollectionTask.objects.filter(pk=p.task_id).update(next_action_on=as_of)
    return broken


# --- admin: institutions, loan terms, buckets ---------------------------------------------------------


def institution_save(*, by: User, institution: Institution | None, data: dict[str, Any]) -> Institution:
    require_perm(by, Perm.WORKFLOW_MANAGE)
    institution = institution or Institution()
    with transaction.atomic():
        for key, value in data.items():
            setattr(institution, key, value)
        institution.full_clean()
        institution.save()
        audit_record(
            action=Action.LOAN_SETTINGS_UPDATE,
            actor=by,
            obj=institution,
            extra={"institution": institution.name},
        )
    return institution


def loan_terms_save(*, by: User, product, data: dict[str, Any]) -> LoanTerms:
    """What a product means after 放款; loans already disbursed keep the terms they were made with."""
    require_perm(by, Perm.WORKFLOW_MANAGE)
    if not data.get("methods"):
        raise ValidationError({"methods": [_("请至少选择一种还款方式")]})
    order = data.get("allocation_order") or DEFAULT_ALLOCATION
    if sorted(order) != sorted(DEFAULT_ALLOCATION):
        raise ValidationError({"allocation_order": [_("冲抵顺序须包含罚息、利息、本金各一次")]})
    with transaction.atomic():
        terms, _created = LoanTerms.objects.update_or_create(
            product=product, defaults={**data, "allocation_order": order}
        )
        audit_record(
            action=Action.LOAN_SETTINGS_UPDATE,
            actor=by,
            obj=terms,
            extra={"product": product.code, **{k: v for k, v in data.items() if k != "institution"}},
        )
    return terms


def buckets_save(*, by: User, rows: list[tuple[str, str, int, int | None]]) -> list[OverdueBucket]:
    """Replace the aging table; ranges must start at 0, follow each other without gaps and end open."""
    require_perm(by, Perm.WORKFLOW_MANAGE)
    rows = sorted(rows, key=lambda r: r[2])
    errors = []
    if not rows or rows[0][2] != 0:
        errors.append(_("第一个账龄须从 0 天开始（正常）"))
    for (code, _label, lo, hi), nxt in zip(rows, [*rows[1:], None], strict=True):
        if hi is not None and hi < lo:
            errors.append(_("%(code)s：结束天数不能小于开始天数") % {"code": code})
        if nxt is None and hi is not None:
            errors.append(_("最后一个账龄须不设上限"))
        if nxt is not None and (hi is None or nxt[2] != hi + 1):
            errors.append(_("%(a)s 与 %(b)s 之间不能有空档或重叠") % {"a": code, "b": nxt[0]})
    if len({r[0] for r in rows}) != len(rows):
        errors.append(_("账龄代码不能重复"))
    if errors:
        raise ValidationError({"buckets": errors})
    with transaction.atomic():
        OverdueBucket.objects.all().delete()
        made = OverdueBucket.objects.bulk_create(
            [OverdueBucket(code=c, label=label, min_days=lo, max_days=hi) for c, label, lo, hi in rows]
        )
        audit_record(action=Action.LOAN_SETTINGS_UPDATE, actor=by, extra={"buckets": [list(r) for r in rows]})
    return made


def post_loan_visit_record(
    *, by: User, loan: Loan, way: str, fund_use: str, satisfaction: int | None = None, note: str = ""
) -> PostLoanVisit:
    """贷后回访 by the salesperson (or anyone who may edit customers and sees the loan)."""
    require_perm(by, Perm.CUSTOMER_EDIT)
    from .selectors import loans_visible_to

    if not loans_visible_to(by).filter(pk=loan.pk).exists():
        record_denial(by, Perm.CUSTOMER_EDIT, path=f"loan:{loan.pk}:visit")
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if way not in PostLoanVisit.Way.values:
        errors["way"] = [_("请选择回访方式")]
    if not (fund_use or "").strip():
        errors["fund_use"] = [_("请填写资金实际用途")]
    if satisfaction is not None and not 1 <= int(satisfaction) <= 5:
        errors["satisfaction"] = [_("满意度须为 1 到 5")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        visit = PostLoanVisit.objects.create(
            loan=loan, way=way, fund_use=fund_use.strip()[:200], satisfaction=satisfaction, note=note, by=by
        )
        audit_record(
            action=Action.POST_LOAN_VISIT,
            actor=by,
            obj=loan,
            extra={"way": way, "satisfaction": satisfaction},
        )
    return visit
