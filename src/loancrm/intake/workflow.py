"""The workflow's rules as plain functions: skip conditions, the route ahead, the default definition.

Nothing here writes; `services.py` moves applications and records each move.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .models import LoanApplication, WorkflowDefinition, WorkflowNode

DEFAULT_CODE = "loan"

# Fields a skip condition may test, with their label, and how to read them off an application.
CONDITION_FIELDS: dict[str, tuple[Any, Any]] = {
    "amount": (_("申请金额（元）"), lambda a: a.amount),
    "term_months": (_("申请期限（月）"), lambda a: a.term_months),
    "credit_grade": (_("征信等级"), lambda a: a.credit_grade),
    "customer_type": (_("客户类型"), lambda a: a.customer_type),
    "business_line": (_("业务类型"), lambda a: a.business_line),
    "product": (_("产品代码"), lambda a: a.product.code),
    "region": (_("地区"), lambda a: a.region),
}
CONDITION_OPS = {
    "lte": _("≤"),
    "lt": _("<"),
    "gte": _("≥"),
    "gt": _(">"),
    "eq": _("等于"),
    "ne": _("不等于"),
    "in": _("属于（逗号分隔）"),
}
NUMERIC_FIELDS = {"amount", "term_months"}
# Fields a node may require before it is passed (settable in the action or the node's form).
REQUIRABLE_FIELDS = {
    "credit_grade": _("征信等级"),
    "purpose": _("资金用途"),
    "approved_amount": _("批准额度（元）"),
    "approved_term_months": _("批准期限（月）"),
    "approved_rate": _("批准年利率（%）"),
}


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return None


def clause_holds(clause: dict, application: LoanApplication) -> bool:
    field, op, expected = clause.get("field"), clause.get("op"), clause.get("value", "")
    if field not in CONDITION_FIELDS or op not in CONDITION_OPS:
        return False
    actual = CONDITION_FIELDS[field][1](application)
    if field in NUMERIC_FIELDS:
        a, b = _number(actual), _number(expected)
        if a is None or b is None:
            return False
        return {
            "lte": a <= b,
            "lt": a < b,
            "gte": a >= b,
            "gt": a > b,
            "eq": a == b,
            "ne": a != b,
            "in": a in {_number(x) for x in str(expected).split(",")},
        }[op]
    actual = str(actual or "")
    if op == "eq":
        return actual == str(expected)
    if op == "ne":
        return actual != str(expected)
    if op == "in":
        return actual in {x.strip() for x in str(expected).split(",")}
    return False  # order comparisons only make sense for numbers


def condition_value_error(clause: dict) -> str:
    """Why a clause's value can never match (a typo such as 良好 for `good` would silently never skip)."""
    from .models import BusinessLine, CreditGrade

    field, op, value = clause.get("field"), clause.get("op"), str(clause.get("value", ""))
    values = [v.strip() for v in value.split(",")] if op == "in" else [value.strip()]
    if field in NUMERIC_FIELDS:
        if any(_number(v) is None for v in values):
            return str(_("跳过条件“%(field)s”的值必须是数字") % {"field": CONDITION_FIELDS[field][0]})
        return ""
    if op in ("lte", "lt", "gte", "gt"):
        return str(_("“%(field)s”只能用等于、不等于或属于比较") % {"field": CONDITION_FIELDS[field][0]})
    allowed = {
        "credit_grade": CreditGrade.values,
        "customer_type": ["individual", "enterprise"],
        "business_line": BusinessLine.values,
    }.get(field)
    if allowed and any(v not in allowed for v in values):
        return str(
            _("跳过条件“%(field)s”的值只能是 %(list)s")
            % {"field": CONDITION_FIELDS[field][0], "list": ", ".join(allowed)}
        )
    return ""


def node_skipped(node: WorkflowNode, application: LoanApplication) -> bool:
    """A node with skip conditions is skipped when every one of them holds (an AND of clauses)."""
    return bool(node.skip_when) and all(clause_holds(c, application) for c in node.skip_when)


def nodes_of(definition: WorkflowDefinition) -> list[WorkflowNode]:
    cache = getattr(definition, "_nodes_cache", None)
    if cache is None:
        cache = list(definition.nodes.order_by("order", "id"))
        definition._nodes_cache = cache
    return cache


def next_node(
    application: LoanApplication, after: WorkflowNode | None
) -> tuple[WorkflowNode | None, list[str]]:
    """The next node the application enters after `after`, and the codes skipped on the way."""
    skipped: list[str] = []
    for node in nodes_of(application.workflow):
        if after is not None and node.order <= after.order:
            continue
        if node_skipped(node, application):
            skipped.append(node.code)
            continue
        return node, skipped
    return None, skipped


def route(application: LoanApplication) -> list[str]:
    """The node codes the application will still pass from here (its current node first)."""
    if application.node_id is None:
        return []
    current = application.node
    out = [current.code]
    for node in nodes_of(application.workflow):
        if node.order > current.order and not node_skipped(node, application):
            out.append(node.code)
    return out


def describe_condition(clauses: list[dict]) -> str:
    from .models import CreditGrade

    grades = dict(CreditGrade.choices)
    parts = []
    for c in clauses:
        label = CONDITION_FIELDS.get(c.get("field"), (c.get("field"),))[0]
        value = (
            grades.get(c.get("value"), c.get("value")) if c.get("field") == "credit_grade" else c.get("value")
        )
        parts.append(f"{label} {CONDITION_OPS.get(c.get('op'), c.get('op'))} {value}")
    return _(" 且 ").join(str(p) for p in parts) if parts else ""


# The default flow of seed 003 (第二步): code, name, handler type, roles, sign-off, SLA hours, extra.
DEFAULT_NODES: list[dict[str, Any]] = [
    {"code": "intake", "name": gettext_noop("进件/线索分配"), "handler_type": "owner", "sla_hours": 2},
    {
        "code": "precheck",
        "name": gettext_noop("初步沟通与预审"),
        "handler_type": "owner",
        "sla_hours": 24,
        "required_fields": ["credit_grade"],
        "can_reject": True,
    },
    {
        "code": "materials",
        "name": gettext_noop("资料收集与审核"),
        "handler_type": "owner",
        "sla_hours": 72,
        "requires_materials": True,
        "review_stage": "first",
        "can_reject": True,
    },
    {
        "code": "risk",
        "name": gettext_noop("风控评估与额度测算"),
        "handler_type": "roles",
        "handler_roles": ["risk_officer"],
        "sla_hours": 24,
        "review_stage": "detailed",
        "checklist": [
            gettext_noop("身份信息真实且与证件一致"),
            gettext_noop("征信报告已核查，无重大不良记录"),
            gettext_noop("银行流水与收入证明相符"),
            gettext_noop("负债收入比在可接受范围内"),
            gettext_noop("抵押物/资产权属清晰（如适用）"),
        ],
        # Seed 003: 5 万元以下、征信良好的小额申请跳过风控详审，直接进入审批决策。
        "skip_when": [
            {"field": "amount", "op": "lte", "value": "50000"},
            {"field": "credit_grade", "op": "eq", "value": "good"},
        ],
        "can_reject": True,
    },
    {
        "code": "decision",
        "name": gettext_noop("审批决策"),
        "handler_type": "roles",
        "handler_roles": ["manager", "approver"],
        "sign_off": "all",
        "sla_hours": 24,
        "can_reject": True,
        "status_on_pass": "approved",
    },
    {"code": "contract", "name": gettext_noop("合同签订"), "handler_type": "owner", "sla_hours": 72},
    {
        "code": "disbursement",
        "name": gettext_noop("放款"),
        "handler_type": "roles",
        "handler_roles": ["finance"],
        "sla_hours": 24,
        "status_on_pass": "disbursed",
    },
    {
        "code": "post_loan",
        "name": gettext_noop("贷后管理"),
        "handler_type": "owner",
        "sla_hours": 720,
        "status_on_pass": "closed",
    },
]
