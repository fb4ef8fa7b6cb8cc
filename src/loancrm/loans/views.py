"""Loan pages: list, the loan with its schedule, payments and collection, 放款 from the application,
and the collector's work list. Thin: services write, selectors read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import DataScope, Perm
from loancrm.core.dates import parse_date
from loancrm.intake.selectors import application_get_for

from . import selectors, services
from .forms import (
    AttemptForm,
    BucketFormSet,
    DisburseForm,
    InstitutionForm,
    LoanTermsForm,
    RepaymentForm,
    VisitForm,
)
from .models import CollectionTask, LoanStatus, LoanTerms, OverdueBucket


def _errors(request, exc: ValidationError, form=None) -> None:
    for field, msgs in getattr(exc, "message_dict", {None: exc.messages}).items():
        for m in msgs:
            if form is not None and field in form.fields:
                form.add_error(field, m)
            else:
                messages.error(request, m)


@login_required
def loan_list(request):
    require_perm(request.user, Perm.LOAN_VIEW, path=request.path)
    p = request.GET
    f = selectors.LoanFilters(
        search=p.get("q", ""),
        status=p.get("status", "") if p.get("status") in LoanStatus.values else "",
        bucket=p.get("bucket", "")[:10],
        customer_id=int(p["customer"]) if p.get("customer", "").isdigit() else None,
        fee_outstanding=p.get("fee") == "1",
        owner_id=int(p["owner"]) if p.get("owner", "").isdigit() and len(p["owner"]) < 12 else None,
        channel=p.get("channel", "")[:40],
        product=p.get("product", "")[:30],
        disbursed_from=parse_date(p.get("from")),
        disbursed_to=parse_date(p.get("to")),
    )
    page = Paginator(selectors.loan_list(request.user, f), 20).get_page(p.get("page"))
    query = "&".join(f"{k}={v}" for k, v in p.items() if k != "page" and v)
    return render(
        request,
        "loans/list.html",
        {
            "page": page,
            "f": f,
            "statuses": LoanStatus.choices,
            "buckets": services.ensure_buckets(),
            "query": query,
        },
    )


def _loan_context(request, loan, **extra) -> dict:
    user = request.user
    open_task = (
        loan.collection_tasks.filter(status=CollectionTask.Status.OPEN).select_related("assignee").first()
    )
    return {
        "loan": loan,
        "rows": selectors.loan_schedule(loan),
        "repayments": selectors.loan_repayments(loan),
        # A written-off loan still takes payments: recoveries.
        "can_record": user.has_perm_code(Perm.REPAYMENT_RECORD) and loan.status != LoanStatus.SETTLED,
        "can_write_off": user.has_perm_code(Perm.LOAN_DISBURSE)
        and loan.bucket == "M3+"
        and loan.status == LoanStatus.OVERDUE
        and not loan.write_off_requested_at,
        "can_approve_write_off": bool(loan.write_off_requested_at)
        and loan.status == LoanStatus.OVERDUE
        and user.has_perm_code(Perm.INTAKE_APPROVE)
        and loan.write_off_requested_by_id != user.pk,
        "repay_form": extra.pop("repay_form", None) or RepaymentForm(),
        "attempt_form": extra.pop("attempt_form", None) or AttemptForm(),
        "task": open_task,
        "can_collect": open_task is not None
        and user.has_perm_code(Perm.COLLECTION_WORK)
        and (open_task.assignee_id == user.pk or user.has_perm_code(Perm.CUSTOMER_ASSIGN)),
        "tasks": list(
            loan.collection_tasks.select_related("assignee").prefetch_related("attempts__by", "promises")
        ),
        "window": services.contact_window(),
        "today": timezone.localdate(),
        "visits": list(loan.visits.select_related("by")),
        "visit_form": extra.pop("visit_form", None) or VisitForm(),
        "can_visit": user.has_perm_code(Perm.CUSTOMER_EDIT),
        **extra,
    }


@login_required
def loan_detail(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    return render(request, "loans/detail.html", _loan_context(request, loan))


@login_required
@require_POST
def repayment_add(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    form = RepaymentForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.repayment_record(
                by=request.user,
                loan=loan,
                amount=d["amount"],
                paid_on=d["paid_on"],
                kind=d["kind"],
                note=d["note"],
            )
        except ValidationError as exc:
            _errors(request, exc, form)
        else:
            messages.success(request, _("已登记还款 %(amount)s 元") % {"amount": d["amount"]})
            return redirect("loans:detail", loan_id)
    loan = selectors.loan_get_for(request.user, loan_id)
    return render(request, "loans/detail.html", _loan_context(request, loan, repay_form=form), status=400)


@login_required
@require_POST
def attempt_add(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    task = get_object_or_404(CollectionTask, loan=loan, status=CollectionTask.Status.OPEN)
    form = AttemptForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.collection_attempt_record(
                by=request.user,
                task=task,
                way=d["way"],
                result=d["result"],
                note=d["note"],
                promise_on=d["promise_on"],
                promise_amount=d["promise_amount"],
            )
        except ValidationError as exc:
            _errors(request, exc, form)
        else:
            messages.success(request, _("催收记录已保存"))
            return redirect("loans:detail", loan_id)
    return render(request, "loans/detail.html", _loan_context(request, loan, attempt_form=form), status=400)


@login_required
@require_POST
def write_off(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    step = request.POST.get("step", "request")
    try:
        if step == "request":
            services.loan_write_off_request(by=request.user, loan=loan, reason=request.POST.get("reason", ""))
            messages.success(request, _("核销申请已提交，等待审批人批准"))
        else:
            services.loan_write_off(
                by=request.user, loan=loan, approve=step == "approve", comment=request.POST.get("comment", "")
            )
            messages.success(request, _("已核销") if step == "approve" else _("已驳回核销申请"))
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("loans:detail", loan_id)


@login_required
@require_POST
def fee_receive(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    try:
        services.service_fee_receive(by=request.user, loan=loan, amount=request.POST.get("amount", ""))
        messages.success(request, _("已登记服务费收款"))
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("loans:detail", loan_id)


def disburse_form_for(application, data=None, files=None) -> DisburseForm | None:
    """The 放款 form on the application page (None when the product has no loan terms)."""
    terms = LoanTerms.objects.filter(product=application.product).first()
    if terms is None:
        return None
    # The rate approved at the decision, else the product's lowest: finance checks it against the contract.
    rate = (
        application.approved_rate
        if application.approved_rate is not None
        else application.product.annual_rate_min
    )
    return DisburseForm(
        data,
        files,
        methods=terms.methods,
        initial={
            "principal": f"{application.approved_amount or application.amount:.2f}",
            "annual_rate": f"{rate}%" if rate is not None else "",
            "months": application.approved_term_months or application.term_months,
            "disbursed_on": timezone.localdate(),
        },
    )


@login_required
@require_POST
def disburse(request, application_id: int):
    application = application_get_for(request.user, application_id)
    form = disburse_form_for(application, request.POST, request.FILES)
    if form is None:
        messages.error(request, _("产品“%(p)s”还没有设置资金方和贷款条款") % {"p": application.product})
        return redirect("intake:detail", application_id)
    if form.is_valid():
        d = form.cleaned_data
        try:
            loan = services.loan_disburse(
                by=request.user,
                application=application,
                comment=d["comment"],
                contract_file=d.get("contract_file"),
                contract_no=d["contract_no"],
                principal=d["principal"],
                annual_rate=d["annual_rate"],
                months=d["months"],
                method=d["method"],
                disbursed_on=d["disbursed_on"],
            )
        except ValidationError as exc:
            _errors(request, exc, form)
        else:
            messages.success(request, _("已放款，贷款 %(no)s 的还款计划已生成") % {"no": loan.loan_no})
            return redirect("loans:detail", loan.pk)
    from loancrm.intake.views import _detail_context

    ctx = _detail_context(request, application)
    ctx["disburse_form"] = form
    return render(request, "intake/detail.html", ctx, status=400)


@login_required
def collection(request):
    # Collectors, and salespeople with the M1 tasks of their own loans.
    if not CollectionTask.objects.filter(assignee=request.user).exists():
        require_perm(request.user, Perm.COLLECTION_WORK, path=request.path)
    team = request.GET.get("team") == "1" and request.user.data_scope in (DataScope.DEPARTMENT, DataScope.ALL)
    tasks = selectors.collection_tasks_for(request.user, team=team)
    return render(
        request,
        "loans/collection.html",
        {
            "tasks": tasks[:200],
            "team": team,
            "promises": selectors.promises_due(request.user),
            "today": timezone.localdate(),
            "buckets": {b.code: b.label for b in OverdueBucket.objects.all()},
        },
    )


@login_required
def loan_settings(request):
    """Admins: funding institutions, each product's loan terms, and the aging buckets."""
    from loancrm.intake.models import Product

    from .models import Institution

    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    what = request.POST.get("what", "")
    inst_form = InstitutionForm(request.POST if what == "institution" else None, prefix="inst")
    buckets = services.ensure_buckets()
    bucket_set = BucketFormSet(
        request.POST if what == "buckets" else None,
        prefix="b",
        initial=[
            {"code": b.code, "label": b.label, "min_days": b.min_days, "max_days": b.max_days}
            for b in buckets
        ],
    )
    products = list(Product.objects.order_by("id"))
    terms = {t.product_id: t for t in LoanTerms.objects.select_related("institution")}
    term_forms = []
    for p in products:
        data = request.POST if what == f"terms-{p.pk}" else None
        term_forms.append((p, LoanTermsForm(data, instance=terms.get(p.pk), prefix=f"t{p.pk}")))
    if request.method == "POST":
        try:
            if what == "institution" and inst_form.is_valid():
                services.institution_save(by=request.user, institution=None, data=inst_form.cleaned_data)
                messages.success(request, _("已添加资金方"))
                return redirect("loans:settings")
            if what == "buckets" and bucket_set.is_valid():
                rows = [
                    (
                        f.cleaned_data["code"],
                        f.cleaned_data["label"],
                        f.cleaned_data["min_days"],
                        f.cleaned_data["max_days"],
                    )
                    for f in bucket_set.forms
                    if f.cleaned_data and not f.cleaned_data.get("DELETE")
                ]
                services.buckets_save(by=request.user, rows=rows)
                messages.success(request, _("逾期账龄已保存，今晚起按新区间计算"))
                return redirect("loans:settings")
            for p, form in term_forms:
                if what == f"terms-{p.pk}" and form.is_valid():
                    d = {k: v for k, v in form.cleaned_data.items() if k != "allocation"}
                    d["allocation_order"] = form.cleaned_data["allocation"].split(",")
                    services.loan_terms_save(by=request.user, product=p, data=d)
                    messages.success(request, _("“%(p)s”的贷款条款已保存（已放款的贷款不变）") % {"p": p})
                    return redirect("loans:settings")
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.error(request, _("没有保存：请修正下面标红的项"))
    return render(
        request,
        "loans/settings.html",
        {
            "institutions": Institution.objects.order_by("id"),
            "inst_form": inst_form,
            "term_forms": term_forms,
            "bucket_set": bucket_set,
        },
    )


@login_required
def customer_loans(request, customer_id: int):
    """The customer page's loans card (loaded after the page): state, next due and last payment."""
    from loancrm.customers.selectors import customer_get_for

    from .models import InstallmentStatus

    customer = customer_get_for(request.user, customer_id)
    loans = list(selectors.loan_list(request.user, selectors.LoanFilters(customer_id=customer.pk))[:20])
    for loan in loans:
        loan.next_due = (
            loan.installments.exclude(status__in=[InstallmentStatus.PAID, InstallmentStatus.CANCELLED])
            .order_by("due_date")
            .first()
        )
        loan.last_payment = loan.repayments.order_by("-paid_on", "-id").first()
    return render(request, "loans/_customer_loans.html", {"loans": loans, "customer": customer})


@login_required
@require_POST
def visit_add(request, loan_id: int):
    loan = selectors.loan_get_for(request.user, loan_id)
    form = VisitForm(request.POST)
    if form.is_valid():
        try:
            services.post_loan_visit_record(by=request.user, loan=loan, **form.cleaned_data)
        except ValidationError as exc:
            _errors(request, exc, form)
        else:
            messages.success(request, _("贷后回访已记录"))
            return redirect("loans:detail", loan_id)
    return render(request, "loans/detail.html", _loan_context(request, loan, visit_form=form), status=400)
