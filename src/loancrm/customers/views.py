import functools
from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.models import Department
from loancrm.accounts.permissions import DataScope, Perm, RoleCode
from loancrm.accounts.scope import users_in_scope
from loancrm.core.pagination import CappedPaginator
from loancrm.dictionaries.selectors import dictionary_choices, dictionary_labels

from . import selectors, services
from .fields import FORM_LAYOUT, SENSITIVE, groups_for
from .forms import AssetForm, AssignForm, AttachmentForm, CustomerForm, FollowUpForm, RelatedPersonForm
from .models import Attachment, CustomerType, RelatedPerson, SavedFilter, Tag


def _int(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _date(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def filters_from(params) -> selectors.CustomerFilters:
    return selectors.CustomerFilters(
        search=params.get("q", ""),
        customer_type=params.get("type", ""),
        stage=params.get("stage", ""),
        channel=params.get("channel", ""),
        owner_id=_int(params.get("owner")),
        department_id=_int(params.get("department")),
        region=params.get("region", ""),
        created_from=_date(params.get("from")),
        created_to=_date(params.get("to")),
        follow_up=params.get("follow", ""),
        tag_id=_int(params.get("tag")),
        ordering=params.get("sort", "-id"),
    )


def _owner_choices(user):
    return users_in_scope(user).filter(
        is_active=True, role__code__in=[RoleCode.SALESPERSON, RoleCode.MANAGER]
    )


def _flash_errors(request, form=None, exc: ValidationError | None = None) -> None:
    """Form or service errors as messages naming the field (for the small forms on the 360 page)."""
    errors = form.errors.items() if form is not None else exc.message_dict.items()
    for field, msgs in errors:
        label = form.fields[field].label if form is not None and field in form.fields else ""
        text = "；".join(str(m) for m in msgs)
        messages.error(request, f"{label}：{text}" if label else text)


def _post_on_customer(request, customer_id: int, form, save, success: str, anchor: str):
    """The small forms of the 360 page: validate, call the service, flash the outcome, back to the page."""
    customer = selectors.customer_get_for(request.user, customer_id)
    if form.is_valid():
        try:
            save(customer, form.cleaned_data)
            messages.success(request, success)
        except ValidationError as exc:
            _flash_errors(request, exc=exc)
    else:
        _flash_errors(request, form)
    return redirect(reverse("customers:detail", args=[customer.pk]) + f"#{anchor}")


@login_required
def customer_list(request):
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    g = request.GET
    f = filters_from(g)
    qs = selectors.customer_list(request.user, f)
    page = CappedPaginator(qs, 20).get_page(g.get("page"))
    query = g.copy()
    query.pop("page", None)
    without_stage = g.copy()
    without_stage.pop("page", None)
    without_stage.pop("stage", None)
    wide = request.user.data_scope != DataScope.OWN
    context = {
        "page": page,
        "f": f,
        "q": g,
        "query": query.urlencode(),
        "stage_query": without_stage.urlencode(),
        "stages": dictionary_choices("stage", include_blank=False),
        "stage_labels": dictionary_labels("stage"),
        "channels": dictionary_choices("channel", include_blank=False),
        "channel_labels": dictionary_labels("channel"),
        "owners": _owner_choices(request.user) if wide else [],
        "departments": Department.objects.filter(is_active=True) if wide else [],
        "regions": sorted(set(Department.objects.exclude(region="").values_list("region", flat=True)))
        if wide
        else [],
        "tags": Tag.objects.all(),
        "saved": selectors.saved_filters_for(request.user),
        "wide": wide,
        "assign_owners": _owner_choices(request.user),
        "can_assign": request.user.has_perm_code(Perm.CUSTOMER_ASSIGN),
    }
    template = (
        "customers/_table.html"
        if request.htmx and request.htmx.target == "customer-table"
        else "customers/list.html"
    )
    return render(request, template, context)


@login_required
def customer_stage_counts(request):
    """The stage tabs' counts, fetched by htmx after the list has shown (a GROUP BY over the whole scope)."""
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    params = request.GET.copy()
    params.pop("stage", None)
    counts = selectors.stage_counts(selectors.customer_list(request.user, filters_from(params)))
    return JsonResponse({"counts": counts, "total": sum(counts.values())})


@login_required
@require_POST
def customer_bulk(request):
    """Bulk assign / tag / return to pool, always within the user's scope."""
    ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
    customers = list(selectors.customers_visible_to(request.user).filter(pk__in=ids))
    action = request.POST.get("action")
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("customers:list")  # never redirect off the site
    if not customers:
        messages.error(request, _("请先勾选客户"))
        return redirect(back)
    try:
        if action == "assign":
            form = AssignForm(request.POST, owners=_owner_choices(request.user))
            if not form.is_valid():
                raise ValidationError(form.errors)
            _batch, moved = services.customers_assign(
                by=request.user,
                customers=customers,
                to_owner=form.cleaned_data["to_owner"],
                reason=form.cleaned_data["reason"],
            )
            messages.success(request, _("已转移 %(n)s 位客户") % {"n": moved})
        elif action in ("tag", "untag"):
            services.customers_tag(
                by=request.user,
                customers=customers,
                tag_names=request.POST.get("tags", "").split(","),
                remove=action == "untag",
            )
            messages.success(request, _("已为 %(n)s 位客户更新标签") % {"n": len(customers)})
        else:
            raise Http404
    except ValidationError as exc:
        for msg in exc.messages:
            messages.error(request, msg)
    return redirect(back)


@login_required
def customer_create(request):
    require_perm(request.user, Perm.CUSTOMER_CREATE, path=request.path)
    ctype = request.POST.get("customer_type") or request.GET.get("type") or CustomerType.INDIVIDUAL
    form = CustomerForm(request.POST or None, initial={"customer_type": ctype})
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_create(by=request.user, data=form.cleaned_customer)
        except services.DuplicateCustomer as exc:
            form.add_error(exc.field, exc.messages[0])
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, msgs)
        else:
            messages.success(
                request,
                _("客户 %(name)s 已创建，编号 %(no)s") % {"name": customer.name, "no": customer.customer_no},
            )
            return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/form.html", _form_context(form, None))


def _form_context(form, customer):
    sections = [(show, title, [form[name] for name in names]) for show, title, names in FORM_LAYOUT]
    return {"form": form, "customer": customer, "sections": sections}


@login_required
def customer_edit(request, customer_id: int):
    require_perm(request.user, Perm.CUSTOMER_EDIT, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    form = CustomerForm(request.POST or None, instance=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                by=request.user,
                customer=customer,
                data=form.cleaned_customer,
                expected_version=form.cleaned_data.get("version"),
            )
        except services.StaleEdit as exc:
            form.add_error(None, exc.messages[0])
        except services.DuplicateCustomer as exc:
            form.add_error(exc.field, exc.messages[0])
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, msgs)
        else:
            messages.success(request, _("已保存"))
            return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/form.html", _form_context(form, customer))


def _labels_for(customer) -> dict:
    from .fields import DICTIONARY_FIELDS

    out = {}
    for name, kind in DICTIONARY_FIELDS.items():
        code = getattr(customer, name)
        out[name] = dictionary_labels(kind).get(code, code) if code else ""
    chosen = customer.product_preferences or []
    prefs = dictionary_labels("product_preference") if chosen else {}
    out["product_preferences"] = "、".join(prefs.get(p, p) for p in chosen)
    return out


def _display_value(customer, name, labels):
    from decimal import Decimal

    from django.utils.formats import localize, number_format

    if name in SENSITIVE:
        return getattr(customer, f"masked_{name}")
    if name in labels:
        return labels[name]
    value = getattr(customer, name)
    display = getattr(customer, f"get_{name}_display", None)
    if display and value:
        return display()
    if value is None or value == "":
        return ""
    if name == "next_follow_up_at":
        from django.utils import timezone

        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return number_format(value, decimal_pos=2, force_grouping=True)
    return localize(value)


# One filled-in field of the 360 page. Built here rather than in a template loop: the loop over up to ~40
# fields (unpacking, three lookups and a filter each) was close to a third of the page's rendering time.
_FIELD_ROW = (
    '\n        <dt class="col-5 col-sm-4 text-muted fw-normal">{}</dt>'
    '<dd class="col-7 col-sm-8" data-field="{}">{}</dd>'
)


def _field_rows_html(rows: list[tuple[str, str, str]]) -> str:
    """The <dt>/<dd> pairs of one group, escaped, line breaks kept (as |linebreaksbr); "" for a blank group."""
    out = []
    for label, name, value in rows:
        text = str(value)
        shown = linebreaksbr(text) if "\n" in text or "\r" in text else conditional_escape(text)
        out.append(_FIELD_ROW.format(conditional_escape(label), conditional_escape(name), shown))
    return mark_safe("".join(out))  # every part escaped above


@functools.lru_cache(maxsize=128)
def _follow_form_fields(language: str, ways: tuple, stages: tuple, stage: str) -> str:
    """The 360 page's empty follow-up form fields as HTML, rendered once per language, choices and stage.

    Widget rendering (a template per widget and per option) was a third of the page's time. The result
    depends on nothing else: no request, no CSRF token (that stays in the page), no bound data.
    """
    form = FollowUpForm(initial={"stage": stage})
    form.fields["way"].choices = list(ways)
    form.fields["stage"].choices = list(stages)
    return render_to_string("customers/_follow_form_fields.html", {"follow_form": form})


@functools.lru_cache(maxsize=32)
def _attachment_form_fields(language: str, kinds: tuple) -> str:
    form = AttachmentForm()
    form.fields["kind"].choices = list(kinds)
    return render_to_string("customers/_attachment_form_fields.html", {"attachment_form": form})


def _cached_fragment(fn, *key):
    # Keyed by the active language and the current dictionary choices, so a dictionary change (or
    # another language) renders afresh; DEBUG renders every time so that template edits show at once.
    return (fn.__wrapped__ if settings.DEBUG else fn)(get_language(), *key)  # a SafeString


@login_required
def customer_detail(request, customer_id: int):
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    labels = _labels_for(customer)
    # Only filled-in fields: a new lead has dozens of blanks, and the page reads better (and renders
    # faster) without a column of dashes. The edit form shows every field.
    groups = []
    for key, title, names in groups_for(customer.customer_type):
        rows = []
        for n in names:
            value = _display_value(customer, n, labels)
            if value not in ("", None):
                rows.append((str(customer._meta.get_field(n).verbose_name), n, value))
        groups.append((key, title, _field_rows_html(rows), len(names) - len(rows)))
    lists = selectors.customer_detail_lists(customer)
    can_edit = request.user.has_perm_code(Perm.CUSTOMER_EDIT)
    context = {
        "customer": customer,
        **lists,
        "groups": groups,
        "labels": labels,
        "can_reveal": selectors.can_reveal(request.user),
        "can_edit": can_edit,
        # Labels only for the lists that have rows (most customers have none of them).
        "relation_labels": dictionary_labels("relation") if lists["related_persons"] else {},
        "asset_labels": dictionary_labels("asset_kind") if lists["assets"] else {},
        "attachment_labels": dictionary_labels("attachment_kind") if lists["attachments"] else {},
    }
    if can_edit:
        context["follow_fields"] = _cached_fragment(
            _follow_form_fields,
            tuple(dictionary_choices("follow_up_way", include_blank=False)),
            tuple(dictionary_choices("stage")),
            customer.stage,
        )
        context["attachment_fields"] = _cached_fragment(
            _attachment_form_fields, tuple(dictionary_choices("attachment_kind", include_blank=False))
        )
    return render(request, "customers/detail.html", context)


@login_required
def customer_timeline(request, customer_id: int):
    """The 360 page's timeline, fetched right after the page (keeps the page itself quick at scale)."""
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    return render(
        request,
        "customers/_timeline.html",
        {"timeline": selectors.customer_timeline(customer, reveal=False, limit=50)},
    )


@login_required
@require_POST
def customer_reveal(request, customer_id: int):
    customer = selectors.customer_get_for(request.user, customer_id)
    values = services.customer_reveal(by=request.user, customer=customer)
    persons = [(p, p.phone, p.id_number) for p in customer.related_persons.all()]
    return render(
        request, "customers/_revealed.html", {"customer": customer, "values": values, "persons": persons}
    )


@login_required
def customer_history(request, customer_id: int):
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    return render(
        request,
        "customers/history.html",
        {"customer": customer, "versions": selectors.customer_history(customer, reveal=False)},
    )


@login_required
@require_POST
def message_opt_out(request, customer_id: int):
    customer = selectors.customer_get_for(request.user, customer_id)
    opt_out = request.POST.get("opt_out") == "1"
    services.customer_set_message_opt_out(by=request.user, customer=customer, opt_out=opt_out)
    messages.success(request, _("已设为拒收通知短信/邮件") if opt_out else _("已恢复发送通知短信/邮件"))
    return redirect("customers:detail", customer_id=customer.pk)


@login_required
@require_POST
def follow_up_add(request, customer_id: int):
    return _post_on_customer(
        request, customer_id, FollowUpForm(request.POST),
        lambda c, data: services.follow_up_create(by=request.user, customer=c, data=data),
        _("跟进记录已保存"), "follow-ups",
    )  # fmt: skip


@login_required
@require_POST
def related_person_save(request, customer_id: int, person_id: int | None = None):
    def save(customer, data):
        person = get_object_or_404(RelatedPerson, pk=person_id, customer=customer) if person_id else None
        services.related_person_save(by=request.user, customer=customer, person=person, data=data)

    return _post_on_customer(
        request, customer_id, RelatedPersonForm(request.POST), save, _("关联人已保存"), "related"
    )


@login_required
def related_form(request, customer_id: int):
    """The add-related-person form, loaded on demand so the 360 page itself stays light."""
    require_perm(request.user, Perm.CUSTOMER_EDIT, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    return render(
        request, "customers/_related_form.html", {"customer": customer, "person_form": RelatedPersonForm()}
    )


@login_required
def asset_form(request, customer_id: int):
    require_perm(request.user, Perm.CUSTOMER_EDIT, path=request.path)
    customer = selectors.customer_get_for(request.user, customer_id)
    return render(request, "customers/_asset_form.html", {"customer": customer, "asset_form": AssetForm()})


@login_required
@require_POST
def asset_add(request, customer_id: int):
    return _post_on_customer(
        request, customer_id, AssetForm(request.POST),
        lambda c, data: services.asset_add(by=request.user, customer=c, data=data),
        _("资产已添加"), "assets",
    )  # fmt: skip


@login_required
@require_POST
def attachment_upload(request, customer_id: int):
    return _post_on_customer(
        request, customer_id, AttachmentForm(request.POST, request.FILES),
        lambda c, data: services.attachment_upload(by=request.user, customer=c, upload=data["file"], kind=data["kind"]),
        _("附件已上传"), "attachments",
    )  # fmt: skip


@login_required
def attachment_download(request, customer_id: int, attachment_id: int):
    customer = selectors.customer_get_for(request.user, customer_id)
    attachment = get_object_or_404(Attachment, pk=attachment_id, customer=customer)
    handle = services.attachment_open(by=request.user, attachment=attachment)
    inline = attachment.content_type.startswith("image/") or attachment.content_type == "application/pdf"
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def pool_list(request):
    require_perm(request.user, Perm.CUSTOMER_VIEW, path=request.path)
    page = Paginator(selectors.pool_customers_for(request.user), 20).get_page(request.GET.get("page"))
    return render(request, "customers/pool.html", {"page": page, "stage_labels": dictionary_labels("stage")})


@login_required
@require_POST
def pool_claim(request, customer_id: int):
    customer = get_object_or_404(selectors.pool_customers_for(request.user), pk=customer_id)
    try:
        services.customer_claim(by=request.user, customer=customer)
        messages.success(request, _("已认领客户 %(name)s") % {"name": customer.name})
        return redirect("customers:detail", customer_id=customer.pk)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("customers:pool")


@login_required
@require_POST
def saved_filter_save(request):
    name = request.POST.get("name", "").strip()[:50]
    query = request.POST.get("query", "")[:1000]
    if name:
        SavedFilter.objects.update_or_create(user=request.user, name=name, defaults={"query": query})
        messages.success(request, _("已保存常用筛选“%(name)s”") % {"name": name})
    return redirect(reverse("customers:list") + (f"?{query}" if query else ""))


@login_required
@require_POST
def saved_filter_delete(request, filter_id: int):
    SavedFilter.objects.filter(user=request.user, pk=filter_id).delete()
    return redirect("customers:list")


@login_required
def handover(request):
    """A manager moves every customer of one salesperson (e.g. leaving) to another, with a record."""
    require_perm(request.user, Perm.CUSTOMER_ASSIGN, path=request.path)
    people = users_in_scope(request.user).filter(role__code__in=[RoleCode.SALESPERSON, RoleCode.MANAGER])
    if request.method == "POST":
        src = get_object_or_404(people, pk=_int(request.POST.get("from_owner")))
        target = request.POST.get("to_owner", "")
        dst = None if target == "pool" else people.filter(is_active=True, pk=_int(target)).first()
        reason = request.POST.get("reason", "")
        customers = list(selectors.customers_visible_to(request.user).filter(owner=src))
        try:
            if target != "pool" and dst is None:
                # A receiver outside scope (or deactivated) is an error, never "return them all to the pool".
                raise ValidationError(_("只能转给自己范围内在职的业务员"))
            batch, moved = services.customers_assign(
                by=request.user, customers=customers, to_owner=dst, reason=reason
            )
            messages.success(
                request, _("已将 %(n)s 位客户从 %(a)s 交接给 %(b)s（批次 %(batch)s）") % {
                    "n": moved, "a": src.display_name, "b": dst.display_name if dst else _("公海"), "batch": str(batch)[:8]
                }
            )  # fmt: skip
            return redirect("customers:handover")
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
    counts = {
        row["owner_id"]: row["n"]
        for row in selectors.customers_visible_to(request.user)
        .filter(owner__in=people)
        .order_by()
        .values("owner_id")
        .annotate(n=Count("id"))
    }
    return render(
        request,
        "customers/handover.html",
        {"people": people.order_by("-is_active", "username"), "counts": counts},
    )
