"""The permission catalogue and each role's defaults. docs/permissions.md is this file in prose.

A role holds a list of these codes (editable by admins) and a data scope; code checks codes, never role names.
"""

from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Perm(StrEnum):
    CUSTOMER_VIEW = "customer.view"
    CUSTOMER_CREATE = "customer.create"
    CUSTOMER_EDIT = "customer.edit"
    CUSTOMER_ASSIGN = "customer.assign"
    CUSTOMER_REVEAL = "customer.reveal"
    CUSTOMER_IMPORT = "customer.import"
    CUSTOMER_EXPORT = "customer.export"
    INTAKE_VIEW = "intake.view"
    INTAKE_CREATE = "intake.create"
    INTAKE_REVIEW = "intake.review"
    INTAKE_APPROVE = "intake.approve"
    LOAN_VIEW = "loan.view"
    LOAN_DISBURSE = "loan.disburse"
    REPAYMENT_RECORD = "repayment.record"
    COLLECTION_WORK = "collection.work"
    WORKFLOW_MANAGE = "workflow.manage"
    RULES_MANAGE = "rules.manage"
    REPORTS_VIEW = "reports.view"
    USERS_MANAGE = "users.manage"
    DEPARTMENTS_MANAGE = "departments.manage"
    ROLES_MANAGE = "roles.manage"
    AUDIT_VIEW = "audit.view"
    SETTINGS_MANAGE = "settings.manage"


PERM_LABELS = {
    Perm.CUSTOMER_VIEW: _("查看客户"),
    Perm.CUSTOMER_CREATE: _("新建客户"),
    Perm.CUSTOMER_EDIT: _("编辑客户"),
    Perm.CUSTOMER_ASSIGN: _("分配/转移客户"),
    Perm.CUSTOMER_REVEAL: _("查看完整敏感信息"),
    Perm.CUSTOMER_IMPORT: _("导入客户"),
    Perm.CUSTOMER_EXPORT: _("导出客户"),
    Perm.INTAKE_VIEW: _("查看进件"),
    Perm.INTAKE_CREATE: _("新建进件"),
    Perm.INTAKE_REVIEW: _("审核进件"),
    Perm.INTAKE_APPROVE: _("审批决策"),
    Perm.LOAN_VIEW: _("查看贷款"),
    Perm.LOAN_DISBURSE: _("放款"),
    Perm.REPAYMENT_RECORD: _("登记还款"),
    Perm.COLLECTION_WORK: _("催收作业"),
    Perm.WORKFLOW_MANAGE: _("管理产品、审批流程与线索分配"),
    Perm.RULES_MANAGE: _("管理自动化规则"),
    Perm.REPORTS_VIEW: _("查看报表"),
    Perm.USERS_MANAGE: _("管理用户"),
    Perm.DEPARTMENTS_MANAGE: _("管理部门"),
    Perm.ROLES_MANAGE: _("管理角色"),
    Perm.AUDIT_VIEW: _("查看审计日志"),
    Perm.SETTINGS_MANAGE: _("管理数据字典与系统设置"),
}


class DataScope:
    OWN = "own"
    DEPARTMENT = "department"
    ALL = "all"
    CHOICES = [
        (OWN, _("本人")),
        (DEPARTMENT, _("本部门及下级部门")),
        (ALL, _("全部")),
    ]


class RoleCode:
    ADMIN = "admin"
    MANAGER = "manager"
    SALESPERSON = "salesperson"
    RISK_OFFICER = "risk_officer"
    APPROVER = "approver"
    FINANCE = "finance"
    AUDITOR = "auditor"


_READ_ALL = [Perm.CUSTOMER_VIEW, Perm.INTAKE_VIEW, Perm.LOAN_VIEW, Perm.REPORTS_VIEW]

# code: (name, data scope, permissions)
DEFAULT_ROLES: dict[str, tuple] = {
    RoleCode.ADMIN: (_("管理员"), DataScope.ALL, list(Perm)),
    RoleCode.MANAGER: (
        _("主管"),
        DataScope.DEPARTMENT,
        [
            *_READ_ALL,
            Perm.CUSTOMER_CREATE,
            Perm.CUSTOMER_EDIT,
            Perm.CUSTOMER_ASSIGN,
            Perm.CUSTOMER_REVEAL,
            Perm.CUSTOMER_IMPORT,
            Perm.CUSTOMER_EXPORT,
            Perm.INTAKE_CREATE,
            Perm.INTAKE_REVIEW,
            Perm.INTAKE_APPROVE,
            Perm.COLLECTION_WORK,
        ],
    ),
    RoleCode.SALESPERSON: (
        _("业务员"),
        DataScope.OWN,
        [
            Perm.CUSTOMER_VIEW,
            Perm.CUSTOMER_CREATE,
            Perm.CUSTOMER_EDIT,
            Perm.CUSTOMER_IMPORT,
            Perm.INTAKE_VIEW,
            Perm.INTAKE_CREATE,
            Perm.LOAN_VIEW,
        ],
    ),
    RoleCode.RISK_OFFICER: (
        _("风控"),
        DataScope.ALL,
        [*_READ_ALL, Perm.CUSTOMER_REVEAL, Perm.INTAKE_REVIEW, Perm.COLLECTION_WORK],
    ),
    RoleCode.APPROVER: (_("审批人"), DataScope.ALL, [*_READ_ALL, Perm.INTAKE_APPROVE]),
    RoleCode.FINANCE: (
        _("财务"),
        DataScope.ALL,
        [*_READ_ALL, Perm.CUSTOMER_EXPORT, Perm.LOAN_DISBURSE, Perm.REPAYMENT_RECORD],
    ),
    RoleCode.AUDITOR: (_("审计"), DataScope.ALL, [*_READ_ALL, Perm.AUDIT_VIEW]),
}


def permission_matrix_markdown() -> str:
    """The default matrix as a Markdown table (docs/permissions.md embeds it; a test keeps them equal)."""
    codes = list(DEFAULT_ROLES)
    scope_names = dict(DataScope.CHOICES)
    head = "| 权限 | 代码 | " + " | ".join(str(DEFAULT_ROLES[c][0]) for c in codes) + " |"
    sep = "|---|---|" + "---|" * len(codes)
    scope = (
        "| **数据范围** | `data_scope` | "
        + " | ".join(str(scope_names[DEFAULT_ROLES[c][1]]) for c in codes)
        + " |"
    )
    rows = [
        f"| {PERM_LABELS[p]} | `{p.value}` | "
        + " | ".join("✔" if p in DEFAULT_ROLES[c][2] else "" for c in codes)
        + " |"
        for p in Perm
    ]
    return "\n".join([head, sep, scope, *rows])
