"""The kinds of record a rule can watch, the fields its conditions may use, who is who on a record
(salesperson, handler, customer) and the values its message templates may show.

Template values are deliberately plain and non-sensitive: names, numbers, amounts, dates and links;
never an ID number, a bank account or a full phone number.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: Any
    kind: str  # number money text choice bool date datetime user
    path: str = ""
    choices: Callable[[], list[tuple[str, str]]] | None = None
    python: Callable[[Any, datetime], Any] | None = None  # computed on each candidate

    def __post_init__(self):
        if not self.path:
            object.__setattr__(self, "path", self.name)


@dataclass(frozen=True)
class Entity:
    key: str
    label: Any
    model_path: str  # "app_label.Model"
    fields: list[FieldSpec]
    queryset: Callable[[], QuerySet]
    owner: Callable[[Any], Any]  # the salesperson responsible
    department_id: Callable[[Any], int | None]
    customer: Callable[[Any], Any]
    context: Callable[[Any, datetime], dict[str, Any]]
    url: Callable[[Any], str]
    handler: Callable[[Any], Any] = lambda obj: None
    settable: dict[str, FieldSpec] = field(default_factory=dict)  # fields a set_field action may write
    audit_types: tuple[str, ...] = ()  # AuditEntry.object_type values that are events on this entity

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def model(self):
        from django.apps import apps

        return apps.get_model(self.model_path)


def _money(value) -> str:
    return f"{Decimal(value or 0):,.2f}"


def _date(value) -> str:
    return value.isoformat() if value else ""


def _local(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _name(user) -> str:
    return user.display_name if user is not None else ""


def _abs(path: str) -> str:
    return f"{getattr(settings, 'PUBLIC_BASE_URL', '').rstrip('/')}{path}"


@functools.lru_cache(maxsize=1)
def _org() -> str:
    """The company's name, cached for one rule run (see run_caches_clear)."""
    from loancrm.accounts.selectors import company_name

    return company_name()


def _dictionary(kind: str) -> Callable[[], list[tuple[str, str]]]:
    def choices() -> list[tuple[str, str]]:
        from loancrm.dictionaries.selectors import dictionary_choices

        return [(c, str(label)) for c, label in dictionary_choices(kind, include_blank=False)]

    return choices


def _text_choices(path: str) -> Callable[[], list[tuple[str, str]]]:
    def choices() -> list[tuple[str, str]]:
        from django.utils.module_loading import import_string

        try:
            cls = import_string(path)
        except ImportError:  # a nested class, e.g. loans.models.CollectionTask.Status
            outer, _dot, name = path.rpartition(".")
            cls = getattr(import_string(outer), name)
        return [(c, str(label)) for c, label in cls.choices]

    return choices


def _node_choices() -> list[tuple[str, str]]:
    from django.utils.translation import gettext

    from loancrm.intake.workflow import DEFAULT_NODES

    return [(n["code"], gettext(n["name"])) for n in DEFAULT_NODES]


def _product_choices() -> list[tuple[str, str]]:
    from loancrm.intake.models import Product

    return list(Product.objects.order_by("code").values_list("code", "name"))


def _customer_base(c, now) -> dict[str, Any]:
    return {
        "org": _org(),
        "customer_name": c.name,
        "customer_no": c.customer_no,
        "owner_name": _name(c.owner),
    }


# --- customer ----------------------------------------------------------------------------------------


def _customers() -> QuerySet:
    from loancrm.customers.models import Customer

    return Customer.objects.select_related("owner", "department")


def _customer_context(c, now) -> dict[str, Any]:
    from loancrm.dictionaries.selectors import dictionary_labels

    return {
        **_customer_base(c, now),
        "stage": dictionary_labels("stage").get(c.stage, c.stage),
        "expected_amount": _money(c.expected_amount) if c.expected_amount is not None else "",
        "created_at": _local(c.created_at),
        "birthday": c.birth_date.strftime("%m-%d") if c.birth_date else "",
        "url": _abs(reverse("customers:detail", args=[c.pk])),
    }


CUSTOMER = Entity(
    key="customer",
    label=_("客户"),
    model_path="customers.Customer",
    fields=[
        FieldSpec("name", _("姓名/名称"), "text"),
        FieldSpec(
            "customer_type",
            _("客户类型"),
            "choice",
            choices=_text_choices("loancrm.customers.models.CustomerType"),
        ),
        FieldSpec("stage", _("当前阶段"), "choice", choices=_dictionary("stage")),
        FieldSpec("channel", _("来源渠道"), "choice", choices=_dictionary("channel")),
        FieldSpec("loan_type", _("贷款类型"), "text"),
        FieldSpec("expected_amount", _("期望金额（元）"), "money"),
        FieldSpec("monthly_income", _("月收入（元）"), "money"),
        FieldSpec("created_at", _("创建时间"), "datetime"),
        FieldSpec("last_follow_up_at", _("最近跟进时间"), "datetime"),
        FieldSpec("next_follow_up_at", _("下次跟进时间"), "datetime"),
        FieldSpec("birth_date", _("出生日期"), "date"),
        FieldSpec("owner", _("业务员"), "user"),
        FieldSpec("message_opt_out", _("拒收通知"), "bool"),
    ],
    queryset=_customers,
    owner=lambda c: c.owner,
    department_id=lambda c: c.department_id,
    customer=lambda c: c,
    context=_customer_context,
    url=lambda c: reverse("customers:detail", args=[c.pk]),
    settable={"stage": FieldSpec("stage", _("当前阶段"), "choice", choices=_dictionary("stage"))},
    audit_types=("customer",),
)


# --- application ---------------------------------------------------------------------------------------


def _applications() -> QuerySet:
    from loancrm.intake.models import LoanApplication

    return LoanApplication.objects.select_related(
        "customer", "owner", "handler", "node", "product", "department"
    )


def _missing(app, now) -> list:
    from loancrm.intake.services import missing_materials

    return missing_materials(app)


def _application_context(app, now) -> dict[str, Any]:
    hours = int((now - app.node_entered_at).total_seconds() // 3600) if app.node_entered_at else 0
    return {
        **_customer_base(app.customer, now),
        "owner_name": _name(app.owner),
        "application_no": app.application_no,
        "product": app.product.name,
        "amount": _money(app.amount),
        "node": str(app.node) if app.node_id else app.get_status_display(),
        "handler_name": _name(app.handler),
        "hours_in_node": hours,
        "sla_due_at": _local(app.sla_due_at),
        "missing": "、".join(str(r.get_kind_display()) for r in _missing(app, now)) if app.node_id else "",
        "url": _abs(reverse("intake:detail", args=[app.pk])),
    }


APPLICATION = Entity(
    key="application",
    label=_("进件申请"),
    model_path="intake.LoanApplication",
    fields=[
        FieldSpec(
            "status", _("状态"), "choice", choices=_text_choices("loancrm.intake.models.ApplicationStatus")
        ),
        FieldSpec("node", _("当前节点"), "choice", path="node__code", choices=_node_choices),
        FieldSpec("product", _("产品"), "choice", path="product__code", choices=_product_choices),
        FieldSpec("amount", _("申请金额（元）"), "money"),
        FieldSpec(
            "credit_grade",
            _("征信等级"),
            "choice",
            choices=_text_choices("loancrm.intake.models.CreditGrade"),
        ),
        FieldSpec(
            "customer_type",
            _("客户类型"),
            "choice",
            choices=_text_choices("loancrm.customers.models.CustomerType"),
        ),
        FieldSpec("region", _("地区"), "text"),
        FieldSpec("created_at", _("创建时间"), "datetime"),
        FieldSpec("node_entered_at", _("进入节点时间"), "datetime"),
        FieldSpec("sla_due_at", _("节点时限"), "datetime"),
        FieldSpec("handler", _("当前处理人"), "user"),
        FieldSpec("owner", _("业务员"), "user"),
        FieldSpec(
            "missing_materials", _("缺少必需材料"), "bool", python=lambda app, now: bool(_missing(app, now))
        ),
    ],
    queryset=_applications,
    owner=lambda a: a.owner,
    department_id=lambda a: a.department_id,
    customer=lambda a: a.customer,
    handler=lambda a: a.handler,
    context=_application_context,
    url=lambda a: reverse("intake:detail", args=[a.pk]),
    audit_types=("loanapplication",),
)


# --- loans, installments, collection -------------------------------------------------------------------


def _loans() -> QuerySet:
    from loancrm.loans.models import Loan

    return Loan.objects.select_related("customer", "owner", "product", "department")


def _loan_context(loan, now) -> dict[str, Any]:
    return {
        **_customer_base(loan.customer, now),
        "owner_name": _name(loan.owner),
        "loan_no": loan.loan_no,
        "product": loan.product.name,
        "principal": _money(loan.principal),
        "disbursed_on": _date(loan.disbursed_on),
        "days_past_due": loan.days_past_due,
        "overdue_amount": _money(loan.overdue_amount),
        "url": _abs(reverse("loans:detail", args=[loan.pk])),
    }


LOAN = Entity(
    key="loan",
    label=_("贷款"),
    model_path="loans.Loan",
    fields=[
        FieldSpec("status", _("状态"), "choice", choices=_text_choices("loancrm.loans.models.LoanStatus")),
        FieldSpec("product", _("产品"), "choice", path="product__code", choices=_product_choices),
        FieldSpec("principal", _("本金（元）"), "money"),
        FieldSpec("outstanding_principal", _("剩余本金（元）"), "money"),
        FieldSpec("disbursed_on", _("放款日"), "date"),
        FieldSpec("days_past_due", _("逾期天数"), "number"),
        FieldSpec("bucket", _("逾期账龄"), "text"),
        FieldSpec("owner", _("业务员"), "user"),
    ],
    queryset=_loans,
    owner=lambda loan: loan.owner,
    department_id=lambda loan: loan.department_id,
    customer=lambda loan: loan.customer,
    context=_loan_context,
    url=lambda loan: reverse("loans:detail", args=[loan.pk]),
    audit_types=("loan",),
)


def _installments() -> QuerySet:
    from loancrm.loans.models import RepaymentInstallment

    return RepaymentInstallment.objects.select_related(
        "loan", "loan__customer", "loan__owner", "loan__product"
    ).filter(is_prepayment=False)


def _installment_context(i, now) -> dict[str, Any]:
    today = timezone.localtime(now).date()
    return {
        **_loan_context(i.loan, now),
        "period": i.period,
        "due_date": _date(i.due_date),
        "days_left": (i.due_date - today).days,
        "amount": _money(i.payment_due - i.principal_paid - i.interest_paid),
    }


INSTALLMENT = Entity(
    key="installment",
    label=_("还款计划（每期）"),
    model_path="loans.RepaymentInstallment",
    fields=[
        FieldSpec("due_date", _("应还日"), "date"),
        FieldSpec(
            "status", _("状态"), "choice", choices=_text_choices("loancrm.loans.models.InstallmentStatus")
        ),
        FieldSpec("payment_due", _("应还金额"), "money"),
        FieldSpec("period", _("期数"), "number"),
        FieldSpec(
            "loan_status",
            _("贷款状态"),
            "choice",
            path="loan__status",
            choices=_text_choices("loancrm.loans.models.LoanStatus"),
        ),
    ],
    queryset=_installments,
    owner=lambda i: i.loan.owner,
    department_id=lambda i: i.loan.department_id,
    customer=lambda i: i.loan.customer,
    context=_installment_context,
    url=lambda i: reverse("loans:detail", args=[i.loan_id]),
)


def _collection_tasks() -> QuerySet:
    from loancrm.loans.models import CollectionTask

    return CollectionTask.objects.select_related(
        "loan", "loan__customer", "loan__owner", "loan__product", "assignee"
    )


def _collection_context(t, now) -> dict[str, Any]:
    return {
        **_loan_context(t.loan, now),
        "bucket": t.bucket,
        "next_action_on": _date(t.next_action_on),
        "collector_name": _name(t.assignee),
    }


COLLECTION = Entity(
    key="collection",
    label=_("催收任务"),
    model_path="loans.CollectionTask",
    fields=[
        FieldSpec(
            "status", _("状态"), "choice", choices=_text_choices("loancrm.loans.models.CollectionTask.Status")
        ),
        FieldSpec("bucket", _("账龄"), "text"),
        FieldSpec("next_action_on", _("下次跟进日"), "date"),
        FieldSpec("opened_at", _("开始时间"), "datetime"),
        FieldSpec("assignee", _("催收员"), "user"),
        FieldSpec("days_past_due", _("逾期天数"), "number", path="loan__days_past_due"),
    ],
    queryset=_collection_tasks,
    owner=lambda t: t.assignee or t.loan.owner,
    department_id=lambda t: t.loan.department_id,
    customer=lambda t: t.loan.customer,
    handler=lambda t: t.assignee,
    context=_collection_context,
    url=lambda t: reverse("loans:detail", args=[t.loan_id]),
)


# --- the system itself (scheduled reports: one "record") ------------------------------------------------


class SystemRecord:
    pk = 0
    owner = None
    department_id = None

    def __str__(self) -> str:
        return str(_("系统"))


SYSTEM = Entity(
    key="system",
    label=_("系统（定时任务）"),
    model_path="",
    fields=[],
    queryset=lambda: None,
    owner=lambda s: None,
    department_id=lambda s: None,
    customer=lambda s: None,
    context=lambda s, now: {"org": _org(), "date": timezone.localtime(now).date().isoformat()},
    url=lambda s: "",
)

ENTITIES: dict[str, Entity] = {
    e.key: e for e in (CUSTOMER, APPLICATION, INSTALLMENT, LOAN, COLLECTION, SYSTEM)
}
ENTITY_BY_AUDIT_TYPE: dict[str, Entity] = {t: e for e in ENTITIES.values() for t in e.audit_types}


def entity_choices() -> list[tuple[str, str]]:
    return [(e.key, str(e.label)) for e in ENTITIES.values()]
