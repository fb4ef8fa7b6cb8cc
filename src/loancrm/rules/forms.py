"""The rule editor's form: the rule's own fields, then rows of conditions and of actions. The rows are
read into the same JSON the engine stores; rules.services.rule_clean checks it all."""

import json
from datetime import time
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from loancrm.accounts.models import Role
from loancrm.core.forms import StyledFormMixin
from loancrm.notifications.models import MessageTemplate

from .conditions import COMPARATORS
from .entities import ENTITIES, entity_choices
from .models import Event, Frequency, Occurrence, Rule, Trigger
from .services import ACTION_TYPES, RECIPIENT_CHOICES

CONDITION_ROWS = 6
ACTION_ROWS = 3
# What an action row of the editor carries besides its type and recipients (one list for reading a
# posted form, showing a saved rule, and saving it).
ACTION_FIELDS = ("template", "title", "body", "webhook", "field", "value", "assignee", "due_hours", "period",
                 "saved_report")  # fmt: skip
ACTION_LABELS = {
    "todo": _("生成待办"),
    "notify": _("站内通知"),
    "sms": _("发短信"),
    "email": _("发邮件"),
    "wecom": _("企业微信群消息"),
    "set_field": _("修改字段"),
    "assign": _("分配业务员"),
    "report": _("发送报表"),
}
WEEKDAYS = [
    (1, _("星期一")),
    (2, _("星期二")),
    (3, _("星期三")),
    (4, _("星期四")),
    (5, _("星期五")),
    (6, _("星期六")),
    (7, _("星期日")),
]


class RuleForm(StyledFormMixin, forms.Form):
    compact = True

    name = forms.CharField(label=_("名称"), max_length=100)
    description = forms.CharField(label=_("说明"), max_length=300, required=False)
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
    entity = forms.ChoiceField(label=_("对象"), choices=entity_choices)
    trigger = forms.ChoiceField(label=_("触发方式"), choices=Trigger.choices)
    events = forms.MultipleChoiceField(
        label=_("事件"), choices=Event.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    frequency = forms.ChoiceField(label=_("频率"), choices=Frequency.choices, required=False)
    at_time = forms.TimeField(
        label=_("时间"), required=False, widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"})
    )
    weekday = forms.TypedChoiceField(
        label=_("星期"), choices=[("", "—"), *WEEKDAYS], coerce=int, required=False, empty_value=None
    )
    month_day = forms.IntegerField(label=_("每月几号"), min_value=1, max_value=28, required=False)
    match = forms.ChoiceField(
        label=_("条件"), choices=[("and", _("全部满足")), ("or", _("任一满足"))], initial="and"
    )
    occurrence = forms.ChoiceField(label=_("重复"), choices=Occurrence.choices)
    every_n_days = forms.IntegerField(label=_("间隔天数"), min_value=1, max_value=365, required=False)
    conditions_json = forms.CharField(
        label=_("条件（JSON，含分组时使用）"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, rule: Rule | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule = rule

    # --- rows ----------------------------------------------------------------------------------------

    @staticmethod
    def condition_rows(data, rule: Rule | None) -> list[dict[str, Any]]:
        if data is not None:
            return [
                {
                    "field": data.get(f"c{i}-field", ""),
                    "cmp": data.get(f"c{i}-cmp", ""),
                    "value": data.get(f"c{i}-value", ""),
                }
                for i in range(CONDITION_ROWS)
            ]
        items = [i for i in ((rule.conditions or {}).get("items", []) if rule else []) if "op" not in i]
        rows = [{"field": i["field"], "cmp": i["cmp"], "value": i.get("value", "")} for i in items]
        return rows + [{"field": "", "cmp": "", "value": ""}] * max(CONDITION_ROWS - len(rows), 0)

    @staticmethod
    def action_rows(data, rule: Rule | None) -> list[dict[str, Any]]:
        keys = ("type", *ACTION_FIELDS)
        if data is not None:
            rows = []
            for i in range(ACTION_ROWS):
                row = {k: data.get(f"a{i}-{k}", "") for k in keys}
                to = list(data.getlist(f"a{i}-to"))
                if data.get(f"a{i}-role"):
                    to.append(f"role:{data[f'a{i}-role']}")
                if data.get(f"a{i}-user", "").strip():
                    to.append(f"user:{data[f'a{i}-user'].strip()}")
                row["to"] = to
                rows.append(row)
            return rows
        rows = []
        for a in rule.actions if rule else []:
            row = {k: a.get(k, "") for k in keys}
            row["to"] = list(a.get("to", []))
            rows.append(row)
        empty = {k: "" for k in keys} | {"to": []}
        return rows + [empty] * max(ACTION_ROWS - len(rows), 0)

    def to_data(self, data) -> dict[str, Any]:
        """Everything the service needs, from a valid form and its rows."""
        cd = self.cleaned_data
        conditions: dict[str, Any]
        if cd.get("conditions_json", "").strip():
            try:
                conditions = json.loads(cd["conditions_json"])
            except ValueError:
                raise forms.ValidationError({"conditions_json": [_("不是有效的 JSON")]}) from None
        else:
            items = [
                {"field": r["field"], "cmp": r["cmp"], **({"value": r["value"]} if r["value"] != "" else {})}
                for r in self.condition_rows(data, None)
                if r["field"]
            ]
            conditions = {"op": cd["match"], "items": items}
        actions = []
        for r in self.action_rows(data, None):
            if not r["type"]:
                continue
            a: dict[str, Any] = {"type": r["type"], "to": r["to"]}
            a.update((k, r[k]) for k in ACTION_FIELDS if r[k])
            actions.append(a)
        return {
            "name": cd["name"],
            "description": cd["description"],
            "is_active": cd["is_active"],
            "entity": cd["entity"],
            "trigger": cd["trigger"],
            "events": cd["events"],
            "frequency": cd["frequency"] or Frequency.DAILY,
            "at_time": cd["at_time"] if isinstance(cd["at_time"], time) else None,
            "weekday": cd["weekday"],
            "month_day": cd["month_day"],
            "conditions": conditions,
            "actions": actions,
            "occurrence": cd["occurrence"],
            "every_n_days": cd["every_n_days"],
        }


def editor_context() -> dict[str, Any]:
    """Choices for the rows: fields grouped by object, comparators, recipients, roles, templates."""
    return {
        "entities": [
            {"key": e.key, "label": e.label, "fields": e.fields, "settable": list(e.settable.values())}
            for e in ENTITIES.values()
        ],
        "comparators": [(code, label) for code, (label, _kinds) in COMPARATORS.items()],
        "comparator_kinds": {code: sorted(kinds) for code, (_label, kinds) in COMPARATORS.items()},
        "action_types": [(t, ACTION_LABELS[t]) for t in ACTION_TYPES],
        "recipient_choices": [(k, _(v)) for k, v in RECIPIENT_CHOICES],
        "roles": Role.objects.order_by("id"),
        "templates": MessageTemplate.objects.order_by("code"),
        "saved_reports": _saved_reports(),
    }


def _saved_reports():
    from loancrm.reports.models import SavedReport

    return SavedReport.objects.select_related("user").order_by("user__username", "name")


def initial_for(rule: Rule | None) -> dict[str, Any]:
    if rule is None:
        return {
            "is_active": True,
            "trigger": Trigger.SCAN,
            "match": "and",
            "occurrence": Occurrence.ONCE,
            "entity": "customer",
        }
    nested = any("op" in i for i in (rule.conditions or {}).get("items", []))
    return {
        "name": rule.name,
        "description": rule.description,
        "is_active": rule.is_active,
        "entity": rule.entity,
        "trigger": rule.trigger,
        "events": rule.events,
        "frequency": rule.frequency,
        "at_time": rule.at_time,
        "weekday": rule.weekday,
        "month_day": rule.month_day,
        "match": (rule.conditions or {}).get("op", "and"),
        "occurrence": rule.occurrence,
        "every_n_days": rule.every_n_days,
        "conditions_json": json.dumps(rule.conditions, ensure_ascii=False, indent=1) if nested else "",
    }


class TemplateForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["code", "name", "channel", "subject", "body", "provider_template"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5})}
