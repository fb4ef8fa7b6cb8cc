from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.notifications.models import MessageTemplate
from loancrm.notifications.services import template_save

from . import selectors, services
from .conditions import describe
from .entities import ENTITIES
from .forms import RuleForm, TemplateForm, editor_context, initial_for
from .models import Event


def _describe_actions(rule) -> str:
    from .forms import ACTION_LABELS

    parts = []
    for a in rule.actions:
        who = "、".join(services.recipient_label(s) for s in a.get("to", []))
        parts.append(f"{ACTION_LABELS.get(a['type'], a['type'])}" + (f"（{who}）" if who else ""))
    return "；".join(parts)


@login_required
def rule_list(request):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    rules = list(selectors.rules_for_admin(request.user))
    for r in rules:
        entity = ENTITIES.get(r.entity)
        r.entity_label = entity.label if entity else r.entity
        r.conditions_text = describe(entity, r.conditions) if entity else ""
        r.actions_text = _describe_actions(r)
        r.events_text = "、".join(str(Event(e).label) if e in Event.values else e for e in r.events)
    return render(request, "rules/list.html", {"rules": rules, "runs": selectors.recent_runs(request.user)})


def _editor(request, rule):
    data = request.POST if request.method == "POST" else None
    form = RuleForm(data, initial=initial_for(rule), rule=rule)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            payload = form.to_data(request.POST)
            if request.POST.get("preview"):
                return _preview(request, rule, payload)
            saved = services.rule_save(by=request.user, rule=rule, data=payload)
        except ValidationError as e:
            if hasattr(e, "error_dict"):
                for field, errs in e.message_dict.items():
                    if field in form.fields:
                        form.add_error(field, errs)
                    else:
                        errors.extend(errs)
            else:
                errors.extend(e.messages)
        else:
            messages.success(request, _("规则“%(n)s”已保存") % {"n": saved.display_name})
            return redirect("rules:list")
    elif request.method == "POST" and request.POST.get("preview"):
        return render(
            request, "rules/_preview.html", {"errors": [e for errs in form.errors.values() for e in errs]}
        )
    return render(
        request,
        "rules/form.html",
        {
            "form": form,
            "rule": rule,
            "errors": errors,
            "condition_rows": RuleForm.condition_rows(data, rule),
            "action_rows": RuleForm.action_rows(data, rule),
            "fires": selectors.rule_recent_fires(rule) if rule else [],
            **editor_context(),
        },
    )


def _preview(request, rule, payload):
    """The 测试 button: which records the rule (as edited, not yet saved) would hit now."""
    try:
        clean = services.rule_clean(payload)
    except ValidationError as e:
        return render(request, "rules/_preview.html", {"errors": e.messages})
    from .models import Rule

    draft = Rule(
        pk=rule.pk if rule else None,
        **{k: v for k, v in clean.items() if k in services.RULE_FIELDS and k != "code"},
    )
    result = services.rule_preview(by=request.user, rule=draft)
    return render(request, "rules/_preview.html", {"result": result, "entity": ENTITIES[draft.entity]})


@login_required
def rule_create(request):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    return _editor(request, None)


@login_required
def rule_edit(request, rule_id: int):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    return _editor(request, selectors.rule_get_for_admin(request.user, rule_id))


@login_required
@require_POST
def rule_toggle(request, rule_id: int):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    rule = selectors.rule_get_for_admin(request.user, rule_id)
    services.rule_toggle(by=request.user, rule=rule, active=not rule.is_active)
    messages.success(
        request, (_("已启用“%(n)s”") if rule.is_active else _("已停用“%(n)s”")) % {"n": rule.display_name}
    )
    return redirect("rules:list")


@login_required
def template_list(request):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    return render(request, "rules/templates.html", {"templates": MessageTemplate.objects.order_by("code")})


@login_required
def template_edit(request, template_id: int | None = None):
    require_perm(request.user, Perm.RULES_MANAGE, path=request.path)
    template = None
    if template_id is not None:
        template = MessageTemplate.objects.filter(pk=template_id).first()
        if template is None:
            raise Http404
    form = TemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        try:
            saved = template_save(by=request.user, template=template, data=form.cleaned_data)
        except ValidationError as e:
            for field, errs in e.message_dict.items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(request, _("模板“%(n)s”已保存") % {"n": saved.name})
            return redirect("rules:templates")
    return render(request, "rules/template_form.html", {"form": form, "template": template})
