"""Intake pages: application list, 我的待办, new application, the application page with its flow and
actions, materials with OCR confirmation, the customer's no-login upload and survey pages, and the
admin's products, workflow editor and lead-assignment rules. Thin: services write, selectors read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import Department, Role, User
from loancrm.accounts.permissions import DataScope, Perm
from loancrm.accounts.scope import users_in_scope
from loancrm.core.dates import parse_date
from loancrm.customers.selectors import CustomerFilters, customer_get_for, customer_list

from . import selectors, services, workflow
from .forms import (
    ApplicationForm,
    AssignmentRuleForm,
    LinkForm,
    NodeFormSet,
    ProductForm,
    PublicUploadForm,
    RequirementFormSet,
    SurveyForm,
    UploadForm,
    WorkflowMetaForm,
    node_initial,
)
from .models import (
    OCR_MATERIALS,
    ApplicationMaterial,
    ApplicationStatus,
    AssignmentRule,
    BusinessLine,
    CustomerLink,
    MaterialKind,
    ProblemReport,
    Product,
    ReviewStage,
    TaskStatus,
)


def _errors_to_messages(request, exc: ValidationError) -> None:
    if hasattr(exc, "message_dict"):
        for msgs in exc.message_dict.values():
            for m in msgs:
                messages.error(request, m)
    else:
        for m in exc.messages:
            messages.error(request, m)


@login_required
def application_list(request):
    require_perm(request.user, Perm.INTAKE_VIEW, path=request.path)
    p = request.GET
    status = p.get("status", "") if p.get("status", "") in ApplicationStatus.values else ""
    filters = selectors.ApplicationFilters(
        search=p.get("q", ""),
        status=status,
        node=p.get("node", ""),
        overdue=p.get("overdue") == "1",
        customer_id=int(p["customer"]) if p.get("customer", "").isdigit() else None,
        customer_type=p.get("type", "") if p.get("type") in ("individual", "enterprise") else "",
        business_line=p.get("line", "") if p.get("line") in BusinessLine.values else "",
        region=p.get("region", "")[:50],
        product=p.get("product", "")[:30],
        owner_id=int(p["owner"]) if p.get("owner", "").isdigit() and len(p["owner"]) < 12 else None,
        channel=p.get("channel", "")[:40],
        created_from=parse_date(p.get("from")),
        created_to=parse_date(p.get("to")),
    )
    page = Paginator(selectors.application_list(request.user, filters), 20).get_page(p.get("page"))
    query = "&".join(f"{k}={v}" for k, v in p.items() if k != "page" and v)
    nodes = workflow.nodes_of(services.current_workflow())
    return render(
        request,
        "intake/list.html",
        {
            "page": page,
            "f": filters,
            "statuses": ApplicationStatus.choices,
            "nodes": nodes,
            "query": query,
            "lines": BusinessLine.choices,
            "regions": sorted({r for r in Department.objects.values_list("region", flat=True) if r}),
        },
    )


@login_required
def todo(request):
    require_perm(request.user, Perm.INTAKE_VIEW, path=request.path)
    can_team = request.user.data_scope in (
        DataScope.DEPARTMENT,
        DataScope.ALL,
    ) and request.user.has_perm_code(Perm.CUSTOMER_ASSIGN)
    team = can_team and request.GET.get("team") == "1"
    tasks = selectors.tasks_for(request.user, team=team)
    page = Paginator(tasks, 30).get_page(request.GET.get("page"))
    problems = selectors.problems_visible_to(request.user).filter(status=ProblemReport.Status.OPEN)
    if not team:
        problems = problems.filter(assignee=request.user)
    return render(
        request,
        "intake/todo.html",
        {
            "page": page,
            "team": team,
            "can_team": can_team,
            "problems": problems[:50],
            "now": timezone.now(),
            "query": "team=1" if team else "",
            "collection": _collection_for(request.user, team),
            "reminders": _reminders_for(request.user, team),
        },
    )


def _reminders_for(user, team: bool):
    """The to-dos automation rules made (call this lead, visit this borrower); a manager's team view
    shows those of the people in their scope."""
    from loancrm.accounts.scope import users_in_scope
    from loancrm.notifications.selectors import todos_for

    ids = list(users_in_scope(user).values_list("pk", flat=True)) if team else None
    return list(todos_for(user, team_user_ids=ids).order_by("due_at", "id")[:100])


def _collection_for(user, team: bool):
    from loancrm.loans.selectors import collection_tasks_for

    return list(collection_tasks_for(user, team=team)[:50])


@login_required
def application_create(request):
    require_perm(request.user, Perm.INTAKE_CREATE, path=request.path)
    customer = None
    if request.GET.get("customer", "").isdigit():
        customer = customer_get_for(request.user, int(request.GET["customer"]))
    if customer is None:
        q = request.GET.get("q", "").strip()
        found = customer_list(request.user, CustomerFilters(search=q))[:20] if q else []
        return render(request, "intake/pick_customer.html", {"q": q, "found": found})
    owners = None
    if request.user.data_scope != DataScope.OWN:
        owners = users_in_scope(request.user).filter(is_active=True, role__code="salesperson")
    form = ApplicationForm(
        request.POST or None,
        owners=owners,
        initial={
            "amount": customer.expected_amount and f"{customer.expected_amount:.2f}",
            "term_months": customer.expected_term_months,
            "purpose": customer.loan_purpose,
        },
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            application = services.application_create(
                by=request.user,
                customer=customer,
                product=d["product"],
                amount=d["amount"],
                term_months=d["term_months"],
                purpose=d["purpose"],
                credit_grade=d["credit_grade"],
                owner=d.get("owner"),
            )
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                for m in msgs:
                    form.add_error(field if field in form.fields else None, m)
        else:
            messages.success(request, _("已创建进件 %(no)s") % {"no": application.application_no})
            return redirect("intake:detail", application.pk)
    products = list(selectors.products_active())
    checklists = {
        p.pk: [r for r in p.requirements.all() if r.customer_type == customer.customer_type] for p in products
    }
    return render(
        request,
        "intake/create.html",
        {"form": form, "customer": customer, "products": products, "checklists": checklists},
    )


def _detail_context(request, application) -> dict:
    user = request.user
    tasks = selectors.application_tasks(application)
    my_task = next((t for t in tasks if t.assignee_id == user.pk and t.status == TaskStatus.OPEN), None)
    node = application.node
    materials = selectors.application_materials(application)
    _add_ocr_rows(user, application, materials)
    requirements = services.requirements_for(application.product, application.customer_type)
    by_kind: dict[str, list[ApplicationMaterial]] = {}
    for m in materials:
        by_kind.setdefault(m.kind, []).append(m)
    checklist_rows = [{"req": r, "files": by_kind.pop(r.kind, [])} for r in requirements]
    extra_files = [m for files in by_kind.values() for m in files]
    missing = {r.kind for r in services.missing_materials(application)}
    history = selectors.application_history(application)
    earlier = []
    if node is not None:
        visited = {t.to_node for t in history}
        earlier = [
            n for n in workflow.nodes_of(application.workflow) if n.order < node.order and n.code in visited
        ]
    can_handover = (
        node is not None and user.has_perm_code(Perm.CUSTOMER_ASSIGN) and services._can_see(user, application)
    )
    transfer_to = []
    if node is not None and (my_task or can_handover):
        voted = {t.assignee_id for t in tasks if t.status == TaskStatus.DONE}
        holding = {t.assignee_id for t in tasks if t.status == TaskStatus.OPEN}
        transfer_to = [
            u
            for u in User.objects.filter(is_active=True).exclude(pk=user.pk).exclude(pk__in=voted | holding)
            if services.can_handle(u, node, application)
        ]
    return {
        "a": application,
        "node": node,
        "tasks": tasks,
        "my_task": my_task,
        "steps": selectors.flow_steps(application),
        "route": selectors.application_route(application),
        "history": history,
        "node_seconds": selectors.node_seconds(application),
        "checklist_rows": checklist_rows,
        "extra_files": extra_files,
        "missing": missing,
        "missing_labels": [str(r.get_kind_display()) for r in requirements if r.kind in missing],
        "earlier": earlier,
        "transfer_to": transfer_to,
        "can_handover": can_handover,
        "can_request_materials": node is not None
        and any(
            n.requires_materials and n.order < node.order for n in workflow.nodes_of(application.workflow)
        ),
        "upload_form": UploadForm(),
        "link_form": LinkForm(initial={"kinds": sorted(missing)}),
        "links": list(application.links.order_by("-created_at")[:10]),
        "notices": list(application.notices.order_by("-created_at")[:10]),
        "surveys": list(application.surveys.all()),
        "problems": list(application.problems.all()),
        "is_detailed_review": node is not None and node.review_stage == ReviewStage.DETAILED,
        "is_decision": node is not None and node.status_on_pass == ApplicationStatus.APPROVED,
        "needs_grade": node is not None and "credit_grade" in node.required_fields,
        "credit_grades": services.CreditGrade.choices,
        "ocr_materials": OCR_MATERIALS,
        "reassign_to": (
            users_in_scope(user).filter(is_active=True, role__code="salesperson")
            if user.has_perm_code(Perm.CUSTOMER_ASSIGN) and application.is_open
            else []
        ),
        "can_upload": user.has_perm_code(Perm.INTAKE_CREATE) and application.is_open,
        "can_confirm_ocr": user.has_perm_code(Perm.CUSTOMER_EDIT) and application.is_open,
        "can_review": application.is_open
        and (user.has_perm_code(Perm.INTAKE_REVIEW) or application.handler_id == user.pk),
        "checklist_items": _checklist_items(node, None),
        "disburse_form": _disburse_form(application, node, my_task),
        "loan": getattr(application, "loan", None) if application.status in ("disbursed", "closed") else None,
    }


def _disburse_form(application, node, my_task):
    """At 放款, finance registers the loan (contract, rate, method, date) instead of a bare submit."""
    if node is None or my_task is None or node.status_on_pass != ApplicationStatus.DISBURSED:
        return None
    from loancrm.loans.views import disburse_form_for

    return disburse_form_for(application)


def _add_ocr_rows(user, application, materials) -> None:
    """What the OCR form shows per value: the read value (masked for roles that may not reveal it), the
    customer's current value beside it, and whether to tick it (not when it would overwrite a
    different value already on file — e.g. another person's ID card)."""
    from loancrm.customers.fields import SENSITIVE
    from loancrm.customers.selectors import can_reveal

    from .ocr.parsers import FIELD_LABELS

    reveal = can_reveal(user)
    customer = application.customer
    for m in materials:
        rows = []
        for f in m.ocr.get("fields", []) if isinstance(m.ocr, dict) else []:
            key = f["key"]
            if key == "id_valid_long_term":
                continue  # shown as 长期 in 有效期至; not a customer field
            current = getattr(customer, key, "")
            current = "" if current is None else str(current)
            shown = services.ocr_display_value(key, f["value"], reveal=reveal)
            current_shown = (
                services.ocr_display_value(key, current, reveal=reveal) if key in SENSITIVE else current
            )
            differs = bool(current) and current != str(f["value"])
            rows.append(
                {
                    **f,
                    "label": FIELD_LABELS.get(m.kind, {}).get(key, f.get("label", key)),
                    "value": shown,
                    "current": current_shown,
                    "differs": differs,
                    "tick": not f.get("error") and not differs,
                    "long_term": key == "id_valid_until" and not f["value"],
                }
            )
        m.ocr_rows = rows


def _checklist_items(node, posted) -> list[dict]:
    if node is None:
        return []
    return [
        {"i": i, "label": label, "checked": bool(posted and posted.get(f"check_{i}") == "on")}
        for i, label in enumerate(node.checklist_display)
    ]


@login_required
def application_detail(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    ctx = _detail_context(request, application)
    ctx["new_link_url"] = request.session.pop("new_link_url", None)  # shown once
    return render(request, "intake/detail.html", ctx)


@login_required
@require_POST
def application_action(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    action = request.POST.get("action", "")
    to_user = None
    if request.POST.get("to_user", "").isdigit():
        to_user = User.objects.filter(pk=int(request.POST["to_user"])).first()
    node = application.node
    checks = {}
    if node is not None:
        checks = {item: request.POST.get(f"check_{i}") == "on" for i, item in enumerate(node.checklist)}
    data = {
        k: request.POST.get(k, "")
        for k in ("credit_grade", "approved_amount", "approved_term_months", "approved_rate")
    }
    try:
        services.application_act(
            by=request.user,
            application=application,
            action=action,
            comment=request.POST.get("comment", ""),
            to_node=request.POST.get("to_node", ""),
            to_user=to_user,
            data=data,
            checks=checks,
            expected_visit=int(request.POST["visit"]) if request.POST.get("visit", "").isdigit() else None,
        )
    except ValidationError as exc:
        _errors_to_messages(request, exc)
        # Keep what was typed: the page re-renders with the form filled in.
        ctx = _detail_context(request, selectors.application_get_for(request.user, application_id))
        ctx["posted"] = request.POST
        ctx["checklist_items"] = _checklist_items(ctx["node"], request.POST)
        return render(request, "intake/detail.html", ctx, status=400)
    messages.success(request, _("已%(action)s") % {"action": services.action_label(action)})
    if selectors.applications_visible_to(request.user).filter(pk=application_id).exists():
        return redirect("intake:detail", application_id)
    return redirect("intake:todo")


@login_required
@require_POST
def application_reassign(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    to_user = get_object_or_404(User, pk=request.POST.get("to_user") or 0)
    try:
        services.application_reassign(
            by=request.user, application=application, to_user=to_user, reason=request.POST.get("reason", "")
        )
        messages.success(request, _("已改派给 %(user)s") % {"user": to_user})
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    return redirect("intake:detail", application_id)


@login_required
@require_POST
def material_upload(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            material = services.material_upload(
                by=request.user,
                application=application,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
            )
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            if material.ocr.get("status") == "pending":
                messages.info(
                    request,
                    _("已上传 %(kind)s，正在识别，稍后请核对识别结果")
                    % {"kind": material.get_kind_display()},
                )
                return redirect(f"{reverse('intake:detail', args=[application_id])}#material-{material.pk}")
            messages.success(request, _("已上传 %(kind)s") % {"kind": material.get_kind_display()})
    else:
        for errs in form.errors.values():
            for e in errs:
                messages.error(request, e)
    return redirect("intake:detail", application_id)


def _material_for(request, material_id: int) -> ApplicationMaterial:
    material = get_object_or_404(
        ApplicationMaterial.objects.select_related("application", "attachment"), pk=material_id
    )
    selectors.application_get_for(request.user, material.application_id)  # 404 outside scope
    return material


@login_required
def material_fragment(request, material_id: int):
    """One material's row content, polled by htmx while its OCR runs in the worker."""
    material = _material_for(request, material_id)
    ctx = _detail_context(request, material.application)
    ctx["m"] = material
    return render(request, "intake/_material.html", ctx)


@login_required
@require_POST
def material_review(request, material_id: int):
    material = _material_for(request, material_id)
    try:
        services.material_review(
            by=request.user,
            material=material,
            result=request.POST.get("result", ""),
            comment=request.POST.get("comment", ""),
        )
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    return redirect("intake:detail", material.application_id)


@login_required
@require_POST
def material_ocr_confirm(request, material_id: int):
    material = _material_for(request, material_id)
    keys = request.POST.getlist("confirm")
    values = {k: request.POST.get(f"value_{k}", "") for k in keys}
    try:
        services.material_apply_ocr(by=request.user, material=material, values=values)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
        ctx = _detail_context(request, material.application)
        ctx["posted"] = request.POST
        ctx["ocr_material_id"] = material.pk
        return render(request, "intake/detail.html", ctx, status=400)
    except PermissionDenied:
        raise
    messages.success(request, _("识别结果已写入客户资料"))
    return redirect("intake:detail", material.application_id)


@login_required
@require_POST
def link_create(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    form = LinkForm(request.POST)
    if not form.is_valid():
        for errs in form.errors.values():
            for e in errs:
                messages.error(request, e)
        return redirect("intake:detail", application_id)
    try:
        _link, url = services.upload_link_create(
            by=request.user,
            application=application,
            kinds=form.cleaned_data["kinds"],
            hours=form.cleaned_data["hours"],
        )
    except ValidationError as exc:
        _errors_to_messages(request, exc)
        return redirect("intake:detail", application_id)
    # Shown once: only the token's hash is stored.
    request.session["new_link_url"] = request.build_absolute_uri(url)
    messages.success(request, _("上传链接已生成，并已加入待发送的短信通知"))
    return redirect("intake:detail", application_id)


@login_required
@require_POST
def link_revoke(request, link_id: int):
    link = get_object_or_404(CustomerLink, pk=link_id)
    selectors.application_get_for(request.user, link.application_id)
    services.link_revoke(by=request.user, link=link)
    messages.success(request, _("链接已作废"))
    return redirect("intake:detail", link.application_id)


@login_required
@require_POST
def problem_create(request, application_id: int):
    application = selectors.application_get_for(request.user, application_id)
    try:
        services.problem_create(
            by=request.user,
            customer=application.customer,
            application=application,
            description=request.POST.get("description", ""),
        )
        messages.success(request, _("已登记客户问题，负责人会在待办中看到"))
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    return redirect("intake:detail", application_id)


@login_required
@require_POST
def problem_resolve(request, problem_id: int):
    problem = get_object_or_404(selectors.problems_visible_to(request.user), pk=problem_id)
    try:
        services.problem_resolve(
            by=request.user, problem=problem, resolution=request.POST.get("resolution", "")
        )
        messages.success(request, _("问题已标记为已解决"))
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = reverse("intake:todo")
    return redirect(target)


# --- customer-facing pages (no login; the token is the key) ----------------------------------------


def public_upload(request, token: str):
    link = services.link_for_token(token, CustomerLink.Purpose.UPLOAD)
    if link is None:
        return render(request, "intake/public_expired.html", status=404)
    application = link.application
    kinds = [(k, MaterialKind(k).label) for k in link.kinds if k in MaterialKind.values]
    form = PublicUploadForm(request.POST or None, request.FILES or None)
    form.fields["kind"].choices = kinds
    done = None
    if request.method == "POST" and form.is_valid():
        try:
            material = services.material_upload(
                by=link.created_by or application.owner,
                application=application,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                link=link,
            )
            done = material.get_kind_display()
            form = PublicUploadForm()
            form.fields["kind"].choices = kinds
        except ValidationError as exc:
            for field, msgs in getattr(exc, "message_dict", {"file": exc.messages}).items():
                for m in msgs:
                    form.add_error("file" if field not in form.fields else field, m)
    uploaded = set(application.materials.filter(source="link").values_list("kind", flat=True))
    return render(
        request,
        "intake/public_upload.html",
        {"link": link, "a": application, "form": form, "kinds": kinds, "uploaded": uploaded, "done": done},
    )


def public_survey(request, token: str):
    link = services.link_for_token(token, CustomerLink.Purpose.SURVEY)
    if link is None:
        return render(
            request, "intake/public_expired.html", {"thanks": request.GET.get("done") == "1"}, status=404
        )
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_submit(
                link=link,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
                problem=form.cleaned_data["problem"],
            )
            return render(request, "intake/public_thanks.html", {"a": link.application})
        except ValidationError as exc:
            for m in exc.message_dict.get("score", exc.messages):
                form.add_error("score", m)
    return render(request, "intake/public_survey.html", {"form": form, "a": link.application})


# --- admin: products, workflow, assignment rules -----------------------------------------------------


@login_required
def product_list(request):
    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    products = Product.objects.prefetch_related("requirements").order_by("id")
    return render(request, "intake/products.html", {"products": products})


@login_required
def product_edit(request, product_id: int | None = None):
    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    product = get_object_or_404(Product, pk=product_id) if product_id else None
    form = ProductForm(request.POST or None, instance=product)
    initial = (
        [
            {"customer_type": r.customer_type, "kind": r.kind, "required": r.required, "note": r.note}
            for r in product.requirements.all()
        ]
        if product
        else []
    )
    formset = RequirementFormSet(request.POST or None, initial=initial, prefix="req")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        rows = [
            {k: f.cleaned_data[k] for k in ("customer_type", "kind", "required", "note")}
            for f in formset.forms
            if f.cleaned_data and f.cleaned_data.get("kind") and not f.cleaned_data.get("DELETE")
        ]
        seen = set()
        dupes = [
            r
            for r in rows
            if (r["customer_type"], r["kind"]) in seen or seen.add((r["customer_type"], r["kind"]))
        ]
        if dupes:
            messages.error(request, _("同一客户类型的材料不能重复"))
        else:
            data = {k: v for k, v in form.cleaned_data.items()}
            try:
                saved = services.product_save(by=request.user, product=product, data=data, requirements=rows)
                messages.success(request, _("产品“%(p)s”已保存") % {"p": saved})
                return redirect("intake:products")
            except ValidationError as exc:
                _errors_to_messages(request, exc)
    if request.method == "POST" and not (form.is_valid() and formset.is_valid()):
        messages.error(request, _("没有保存：请修正下面标红的项"))
    return render(request, "intake/product_form.html", {"form": form, "formset": formset, "product": product})


@login_required
def workflow_view(request):
    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    current = services.current_workflow()
    versions = selectors.workflow_versions(current.code)
    roles = {r.code: str(r) for r in Role.objects.all()}
    return render(
        request,
        "intake/workflow.html",
        {
            "current": current,
            "rows": [
                {
                    "node": n,
                    "handlers": "、".join([roles.get(r, r) for r in n.handler_roles] + list(n.handler_users)),
                    "required": "、".join(
                        str(workflow.REQUIRABLE_FIELDS.get(f, f)) for f in n.required_fields
                    ),
                    "skip": workflow.describe_condition(n.skip_when),
                    "status": ApplicationStatus(n.status_on_pass).label if n.status_on_pass else "",
                }
                for n in workflow.nodes_of(current)
            ],
            "versions": versions,
        },
    )


@login_required
def workflow_edit(request):
    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    current = services.current_workflow()
    initial = [node_initial(n, (i + 1) * 10) for i, n in enumerate(services.workflow_nodes_as_data(current))]
    meta = WorkflowMetaForm(request.POST or None, initial={"name": current.name})
    formset = NodeFormSet(request.POST or None, initial=initial, prefix="node")
    if request.method == "POST" and meta.is_valid() and formset.is_valid():
        forms_kept = [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        forms_kept.sort(key=lambda f: f.cleaned_data["order"])
        nodes = [f.as_node() for f in forms_kept]
        try:
            with transaction.atomic():
                definition = services.workflow_publish(
                    by=request.user,
                    code=current.code,
                    name=meta.cleaned_data["name"],
                    nodes=nodes,
                    note=meta.cleaned_data["note"],
                )
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            messages.success(
                request,
                _("已发布 v%(v)s：新进件按新流程办理，已在办的进件仍按原版本") % {"v": definition.version},
            )
            return redirect("intake:workflow")
    return render(
        request, "intake/workflow_form.html", {"meta": meta, "formset": formset, "current": current}
    )


@login_required
def assignment_rules(request):
    require_perm(request.user, Perm.WORKFLOW_MANAGE, path=request.path)
    departments = list(Department.objects.filter(is_active=True).order_by("path"))
    rules = {r.department_id: r for r in AssignmentRule.objects.all()}
    if request.method == "POST":
        dept = get_object_or_404(Department, pk=request.POST.get("department") or 0)
        form = AssignmentRuleForm(request.POST)
        if form.is_valid():
            services.assignment_rule_save(
                by=request.user,
                department=dept,
                method=form.cleaned_data["method"],
                is_active=form.cleaned_data["is_active"],
            )
            messages.success(request, _("“%(d)s”的线索分配规则已保存") % {"d": dept})
            return redirect("intake:assignment")
    rows = [{"dept": d, "rule": rules.get(d.pk), "form": AssignmentRuleForm(
        initial={"method": rules[d.pk].method, "is_active": rules[d.pk].is_active} if d.pk in rules else None,
        auto_id=f"id_d{d.pk}_%s")} for d in departments]  # fmt: skip
    return render(request, "intake/assignment.html", {"rows": rows})
