"""Every read of loans, already scoped to what the requesting user may see."""

from dataclasses import dataclass
from datetime import date

from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import scope_queryset, users_in_scope

from .models import CollectionTask, InstallmentStatus, Loan, PromiseToPay, RepaymentInstallment


def loans_visible_to(user: User) -> QuerySet[Loan]:
    if not (user.is_authenticated and user.has_perm_code(Perm.LOAN_VIEW)):
        return Loan.objects.none()
    qs = Loan.objects.select_related("customer", "product", "institution", "owner", "application")
    return scope_queryset(user, qs)


def loan_get_for(user: User, loan_id: int) -> Loan:
    """The loan, or 404 for missing and out of scope alike."""
    loan = loans_visible_to(user).filter(pk=loan_id).first()
    if loan is None:
        raise Http404
    return loan


@dataclass
class LoanFilters:
    search: str = ""
    status: str = ""
    bucket: str = ""
    customer_id: int | None = None
    fee_outstanding: bool = False
    # Drill-down from the dashboards.
    owner_id: int | None = None
    channel: str = ""
    product: str = ""
    disbursed_from: date | None = None
    disbursed_to: date | None = None


def loan_list(user: User, f: LoanFilters | None = None) -> QuerySet[Loan]:
    f = f or LoanFilters()
    qs = loans_visible_to(user)
    if f.search:
        text = f.search.strip()
        qs = qs.filter(
            Q(loan_no__istartswith=text) | Q(customer__name__startswith=text) | Q(contract_no=text)
        )
    if f.status:
        qs = qs.filter(status=f.status)
    if f.bucket:
        qs = qs.filter(bucket=f.bucket)
    if f.customer_id:
        qs = qs.filter(customer_id=f.customer_id)
    if f.fee_outstanding:  # finance: service fees still to collect
        qs = qs.filter(service_fee__gt=F("service_fee_received"))
    if f.owner_id:
        qs = qs.filter(owner_id=f.owner_id)
    if f.channel:
        qs = qs.filter(customer__channel=f.channel)
    if f.product:
        qs = qs.filter(product__code=f.product)
    if f.disbursed_from:
        qs = qs.filter(disbursed_on__gte=f.disbursed_from)
    if f.disbursed_to:
        qs = qs.filter(disbursed_on__lte=f.disbursed_to)
    return qs.order_by("-id")


def loan_schedule(loan: Loan) -> list[RepaymentInstallment]:
    """The schedule as it stands: every row but those replaced by a recalculation."""
    return list(
        loan.installments.exclude(status=InstallmentStatus.CANCELLED).order_by("due_date", "period", "id")
    )


def loan_repayments(loan: Loan):
    return list(loan.repayments.prefetch_related("allocations__installment").select_related("recorded_by"))


def collection_tasks_for(user: User, *, team: bool = False) -> QuerySet[CollectionTask]:
    qs = CollectionTask.objects.filter(status=CollectionTask.Status.OPEN).select_related(
        "loan", "loan__customer", "assignee"
    )
    if team:
        qs = qs.filter(assignee__in=users_in_scope(user), loan__in=loans_visible_to(user).values("pk"))
    else:
        qs = qs.filter(assignee=user)
    return qs.order_by("next_action_on", "id")


def collection_due_count(user: User) -> int:
    if not user.is_authenticated:
        return 0
    return CollectionTask.objects.filter(
        assignee=user, status=CollectionTask.Status.OPEN, next_action_on__lte=timezone.localdate()
    ).count()


def promises_due(user: User) -> QuerySet[PromiseToPay]:
    return PromiseToPay.objects.filter(
        task__assignee=user, status=PromiseToPay.Status.OPEN, promised_on__lte=timezone.localdate()
    ).select_related("task", "task__loan", "task__loan__customer")
