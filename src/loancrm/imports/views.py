"""The import wizard: upload → map columns → options → dry run → import → results, errors, undo.

Thin: every write is a service, every read a selector; long work runs in the worker and the page polls.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.core.downloads import XLSX, private_file_response

from . import selectors, services
from .forms import OptionsForm, UploadForm
from .models import BatchStatus, ImportBatch

EDITABLE = {BatchStatus.UPLOADED, BatchStatus.VALIDATED, BatchStatus.ROLLED_BACK, BatchStatus.FAILED}


def _flash(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


@login_required
def batch_list(request):
    """Upload a sheet, and the history of imports in the user's scope."""
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    form = UploadForm()
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                batch = services.import_batch_create(by=request.user, file=upload, original_name=upload.name)
            except ValidationError as exc:
                for message in exc.message_dict.get("file", exc.messages):
                    form.add_error("file", message)
            else:
                return redirect("imports:detail", batch_id=batch.pk)
    page = Paginator(selectors.import_batches_visible_to(request.user), 20).get_page(request.GET.get("page"))
    return render(
        request,
        "imports/list.html",
        {
            "form": form,
            "page": page,
            "templates": selectors.import_templates_for(request.user),
        },
    )


def _detail_context(request, batch: ImportBatch, *, mapping=None, options_form=None) -> dict:
    if mapping is not None:
        batch.mapping = mapping  # what the user just chose, shown again though it was not saved
    preview = selectors.import_batch_preview(batch)
    if options_form is None:
        options_form = OptionsForm(
            user=request.user,
            initial={
                "on_duplicate": batch.on_duplicate,
                "on_error": batch.on_error,
                "use_owner_column": batch.use_owner_column,
                "default_owner": batch.default_owner_id or request.user.pk,
            },
        )
    return {
        "batch": batch,
        "progress": selectors.import_batch_progress(batch),
        "editable": (batch.status in EDITABLE and not batch.is_running) or services.is_stale(batch),
        "mine": batch.created_by_id == request.user.pk,
        "preview": preview,
        "columns": selectors.mapping_rows(batch, preview),
        "fields": selectors.field_choices(),
        "options": options_form,
        "templates": selectors.import_templates_for(request.user),
        "stale": services.is_stale(batch),
    }


@login_required
def batch_detail(request, batch_id: int):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    batch = selectors.import_batch_get_for(request.user, batch_id)
    if request.method != "POST":
        return render(request, "imports/detail.html", _detail_context(request, batch))

    action = request.POST.get("action", "save")
    mapping = [request.POST.get(f"map_{i}") or None for i in range(len(batch.headers))]
    form = OptionsForm(request.POST, user=request.user)
    if not form.is_valid():
        return render(
            request,
            "imports/detail.html",
            _detail_context(request, batch, mapping=mapping, options_form=form),
        )
    try:
        batch = services.import_batch_configure(
            by=request.user,
            batch=batch,
            mapping=mapping,
            on_duplicate=form.cleaned_data["on_duplicate"],
            on_error=form.cleaned_data["on_error"],
            use_owner_column=form.cleaned_data["use_owner_column"],
            default_owner=form.cleaned_data["default_owner"],
        )
        if action == "save_template":
            template = services.import_template_save(
                by=request.user, batch=batch, name=request.POST.get("template_name", "")
            )
            messages.success(
                request,
                _("已保存为模板“%(name)s”：下次上传同样表头的表格会自动套用。") % {"name": template.name},
            )
        elif action in ("dry_run", "import"):
            services.import_batch_start(by=request.user, batch=batch, dry_run=action == "dry_run")
        else:
            messages.success(request, _("设置已保存"))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return render(
            request,
            "imports/detail.html",
            _detail_context(request, batch, mapping=mapping, options_form=form),
        )
    return redirect("imports:detail", batch_id=batch.pk)


@login_required
def batch_progress(request, batch_id: int):
    """The progress card alone, polled by htmx while the batch runs; reloads the page when it ends."""
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    batch = selectors.import_batch_get_for(request.user, batch_id)
    if not batch.is_running:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"  # the results, the errors and the next step replace the bar
        return response
    return render(
        request,
        "imports/_progress.html",
        {
            "batch": batch,
            "progress": selectors.import_batch_progress(batch),
            "stale": services.is_stale(batch),
        },
    )


@login_required
@require_POST
def template_apply(request, batch_id: int):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    batch = selectors.import_batch_get_for(request.user, batch_id)
    template = selectors.import_template_get_for(request.user, request.POST.get("template"))
    if batch.status in EDITABLE and not batch.is_running:
        services.import_template_apply(by=request.user, batch=batch, template=template)
        messages.success(request, _("已套用模板“%(name)s”") % {"name": template.name})
    return redirect("imports:detail", batch_id=batch.pk)


@login_required
@require_POST
def template_delete(request, template_id: int):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    template = selectors.import_template_get_for(request.user, template_id)
    services.import_template_delete(by=request.user, template=template)
    messages.success(request, _("模板已删除"))
    return redirect("imports:list")


@login_required
@require_POST
def batch_undo(request, batch_id: int):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    batch = selectors.import_batch_get_for(request.user, batch_id)
    try:
        services.import_batch_undo_start(by=request.user, batch=batch)
    except ValidationError as exc:
        _flash(request, exc)
    return redirect("imports:detail", batch_id=batch.pk)


@login_required
def batch_file(request, batch_id: int, which: str):
    """The uploaded sheet or the error workbook (original rows + 未导入原因), audited."""
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    batch = selectors.import_batch_get_for(request.user, batch_id)
    handle, name = services.import_file_open(by=request.user, batch=batch, which=which)
    return private_file_response(handle, filename=name, content_type=XLSX if name.endswith(".xlsx") else None)


@login_required
def unmapped_values(request):
    """Values imports kept that no dictionary knows: map each to an item, or add it as a new one."""
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    from loancrm.dictionaries.selectors import dictionary_choices

    errors: dict[tuple[str, str], list[str]] = {}
    typed: dict[tuple[str, str], str] = {}
    if request.method == "POST":
        field, value = request.POST.get("field", ""), request.POST.get("value", "")
        new_code = request.POST.get("new_code", "").strip() if request.POST.get("add") else ""
        typed[(field, value)] = new_code
        try:
            if request.POST.get("add") and not new_code:
                raise ValidationError({"new_code": [_("请填写新字典项的代码，例如 xiaohongshu")]})
            n = services.unmapped_value_map(
                by=request.user,
                field=field,
                value=value,
                code=request.POST.get("code", ""),
                new_code=new_code,
            )
        except ValidationError as exc:
            errors[(field, value)] = exc.messages
        else:
            messages.success(request, _("“%(value)s”已映射，%(n)s 位客户已更新。") % {"value": value, "n": n})
            return redirect("imports:unmapped")
    rows = selectors.unmapped_values_summary(request.user)
    choices = {}
    for row in rows:
        if row["kind"] not in choices:
            choices[row["kind"]] = dictionary_choices(row["kind"], include_blank=False)
        row["choices"] = choices[row["kind"]]
        row["errors"] = errors.get((row["field"], row["value"]), [])
        row["typed"] = typed.get((row["field"], row["value"]), "")
    return render(request, "imports/unmapped.html", {"rows": rows})
