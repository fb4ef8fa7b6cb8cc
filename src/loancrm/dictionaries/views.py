"""设置 → 数据字典: admins add, rename, reorder and (de)activate items. Items are never deleted."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm

from . import selectors, services
from .forms import DictionaryItemCreateForm, DictionaryItemForm
from .kinds import KINDS
from .models import DictionaryItem


def _kind_name(kind: str):
    if kind not in KINDS:
        raise Http404
    return KINDS[kind][0]


def _item(kind: str, item_id: int) -> DictionaryItem:
    _kind_name(kind)
    return get_object_or_404(DictionaryItem, kind=kind, pk=item_id)


@login_required
def kind_list(request):
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    counts = selectors.dictionary_kind_counts()
    kinds = []
    for code, (name, _defaults) in KINDS.items():
        total, active = counts.get(code, (0, 0))
        kinds.append(
            {"code": code, "name": name, "total": total, "active": active, "retired": total - active}
        )
    return render(request, "dictionaries/kind_list.html", {"kinds": kinds})


def _kind_page(request, kind: str, *, form=None, row_form=None, row_item_id=None, status=200):
    return render(
        request,
        "dictionaries/kind_detail.html",
        {
            "kind": kind,
            "kind_name": _kind_name(kind),
            "items": selectors.dictionary_items(kind),
            "form": form or DictionaryItemCreateForm(),
            "row_form": row_form,
            "row_item_id": row_item_id,
        },
        status=status,
    )


@login_required
def kind_detail(request, kind: str):
    """The items of one kind, with a form to add one (POST here adds)."""
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    _kind_name(kind)
    form = DictionaryItemCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.dictionary_item_create(by=request.user, kind=kind, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, _("已新增“%(label)s”（%(code)s）。") % {"label": item.label, "code": item.code}
            )
            return redirect("dictionaries:kind_detail", kind=kind)
    return _kind_page(request, kind, form=form)


@login_required
def item_edit(request, kind: str, item_id: int):
    """Edit page for one item; the rows of the kind page post their label and order here too."""
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    item = _item(kind, item_id)
    inline = request.method == "POST" and request.POST.get("inline") == "1"
    initial = {"label": item.label, "sort_order": item.sort_order, "is_active": item.is_active}
    form = DictionaryItemForm(request.POST or None, initial=initial, inline=inline)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.dictionary_item_update(
                by=request.user,
                item=item,
                label=data["label"],
                sort_order=data["sort_order"],
                is_active=data.get("is_active", item.is_active),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("已保存“%(label)s”。") % {"label": item.label})
            return redirect("dictionaries:kind_detail", kind=kind)
    if inline:  # show the errors in the row they belong to
        return _kind_page(request, kind, row_form=form, row_item_id=item.pk)
    return render(
        request,
        "dictionaries/item_form.html",
        {"form": form, "item": item, "kind": kind, "kind_name": _kind_name(kind)},
    )


@login_required
@require_POST
def item_action(request, kind: str, item_id: int, action: str):
    """停用 / 启用 in one click; nothing else about the item changes."""
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    item = _item(kind, item_id)
    if action not in ("deactivate", "activate"):
        raise Http404
    active = action == "activate"
    try:
        services.dictionary_item_update(
            by=request.user, item=item, label=item.label, sort_order=item.sort_order, is_active=active
        )
    except ValidationError as exc:
        for errors in exc.message_dict.values():
            for e in errors:
                messages.error(request, e)
    else:
        if active:
            messages.success(request, _("已启用“%(label)s”。") % {"label": item.label})
        else:
            messages.success(
                request,
                _("已停用“%(label)s”。新建或编辑时不再可选，已用它的旧记录照常显示。")
                % {"label": item.label},
            )
    return redirect("dictionaries:kind_detail", kind=kind)
