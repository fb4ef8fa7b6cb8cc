"""The main navigation."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from loancrm.accounts.permissions import Perm


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    url_name: str
    perm: Perm | None = None


SECTIONS = [
    Section("workbench", _("工作台"), "core:workbench"),
    Section("customers", _("客户"), "customers:list", Perm.CUSTOMER_VIEW),
    Section("intake", _("进件"), "intake:list", Perm.INTAKE_VIEW),
    Section("todo", _("我的待办"), "intake:todo", Perm.INTAKE_VIEW),
    Section("loans", _("贷款"), "loans:list", Perm.LOAN_VIEW),
    Section("postloan", _("催收"), "loans:collection", Perm.COLLECTION_WORK),
    Section("rules", _("规则"), "rules:list", Perm.RULES_MANAGE),
    Section("reports", _("报表"), "reports:dashboard", Perm.REPORTS_VIEW),
    Section("settings", _("设置"), "core:settings"),
]
SECTIONS_BY_KEY = {s.key: s for s in SECTIONS}
