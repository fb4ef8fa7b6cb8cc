"""Every write of intake: applications and their moves through the workflow, materials, OCR
confirmation, customer links, notices, surveys, problems, and the admin's products, flows and rules.

Each service checks who may do it, works in one transaction and writes its audit entry there.
"""

import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loancrm.accounts.access import record_denial, require_perm
from loancrm.accounts.models import Department, User
from loancrm.accounts.permissions import DataScope, Perm
from loancrm.accounts.scope import department_subtree_ids, in_scope, users_in_scope
from loancrm.accounts.selectors import company_name
from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.customers import numbers
from loancrm.customers.cleaning import positive_yuan
from loancrm.customers.models import Customer

from . import workflow
from .models import (
    OCR_MATERIALS,
    OPEN_STATUSES,
    ApplicationMaterial,
    ApplicationStatus,
    ApplicationTask,
    AssignmentMethod,
    AssignmentRule,
    CreditGrade,
    CustomerLink,
    HandlerType,
    LoanApplication,
    MaterialKind,
    MaterialRequirement,
    MaterialSource,
    Notice,
    ProblemReport,
    Product,
    ReviewResult,
    ReviewStage,
    SignOff,
    SurveyResponse,
    TaskStatus,
    Transition,
    WorkflowDefinition,
    WorkflowNode,
)

APPLICATION_SEQUENCE = "application_no"


class Actions:
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    REQUEST_MATERIALS = "request_materials"
    TRANSFER = "transfer"
    ALL = [SUBMIT, APPROVE, REJECT, RETURN, REQUEST_MATERIALS, TRANSFER]


def action_label(code: str) -> str:
    labels = {
        "create": _("创建"),
        "submit": _("提交"),
        "approve": _("同意"),
        "reject": _("拒绝"),
        "return": _("退回"),
        "request_materials": _("要求补充材料"),
        "transfer": _("转交"),
        "reassign": _("改派业务员"),
        "vote": _("会签同意"),
    }
    return labels.get(code, code)


# --- numbers, lookups -------------------------------------------------------------------------------


def next_application_no(when=None) -> str:
    return numbers.format_number("JJ", numbers.reserve(1, APPLICATION_SEQUENCE)[0], when)


def current_workflow(code: str = workflow.DEFAULT_CODE) -> WorkflowDefinition:
    definition = WorkflowDefinition.objects.filter(code=code, is_current=True).first()
    if definition is None:
        raise ValidationError(_("还没有可用的审批流程，请管理员在“审批流程”中设置"))
    return definition


def requirements_for(product: Product, customer_type: str) -> list[MaterialRequirement]:
    return list(product.requirements.filter(customer_type=customer_type))


def missing_materials(application: LoanApplication) -> list[MaterialRequirement]:
    """Required checklist lines with no upload that is still acceptable (pending or accepted)."""
    have = set(
        application.materials.exclude(review=ReviewResult.REJECTED).values_list("kind", flat=True).distinct()
    )
    return [
        r
        for r in requirements_for(application.product, application.customer_type)
        if r.required and r.kind not in have
    ]


def _can_see(user: User, application: LoanApplication) -> bool:
    return in_scope(user, owner_id=application.owner_id, department_id=application.department_id)


def _out_of_scope(by: User, path: str) -> PermissionDenied:
    """Audit a refusal for a record outside the user's data scope; the caller raises what it returns."""
    record_denial(by, "scope", path=path)
    return PermissionDenied(_("该记录不在您的数据范围内"))


def _open_load() -> dict[int, int]:
    rows = ApplicationTask.objects.filter(status=TaskStatus.OPEN).values("assignee").annotate(n=Count("id"))
    return {r["assignee"]: r["n"] for r in rows}


def _least_loaded(users: list[User], load: dict[int, int]) -> User:
    return min(users, key=lambda u: (load.get(u.pk, 0), u.username))


def can_handle(user: User, node: WorkflowNode, application: LoanApplication) -> bool:
    """Whether this user may hold a task of this node for this application — the rule for 转交 too.

    They must be active and see the application, qualify as the node's handler (the salesperson, a
    listed role or a named user), hold the permission the node's decision needs (审批决策 intake.approve,
    放款 loan.disburse), and, at the approval decision, not be the application's own salesperson.
    """
    if not user.is_active or not _can_see(user, application):
        return False
    if node.handler_type == HandlerType.OWNER:
        if not (user.has_perm_code(Perm.INTAKE_CREATE) and user.has_perm_code(Perm.CUSTOMER_EDIT)):
            return False
    elif node.handler_type == HandlerType.ROLES:
        if user.role is None or user.role.code not in node.handler_roles:
            return False
    elif user.username not in node.handler_users:
        return False
    if node.status_on_pass == ApplicationStatus.APPROVED:
        return user.has_perm_code(Perm.INTAKE_APPROVE) and user.pk != application.owner_id
    if node.status_on_pass == ApplicationStatus.DISBURSED:
        return user.has_perm_code(Perm.LOAN_DISBURSE)
    return True


def node_assignees(node: WorkflowNode, application: LoanApplication) -> list[User]:
    """Who must act on this node for this application (one, or each approver of a sign-off)."""
    if node.handler_type == HandlerType.OWNER:
        if application.owner_id is None or not application.owner.is_active:
            raise ValidationError(_("申请没有在职的业务员，请先改派业务员"))
        return [application.owner]
    load = _open_load()
    if node.handler_type == HandlerType.USERS:
        people = [
            u
            for u in User.objects.filter(username__in=node.handler_users, is_active=True)
            if _can_see(u, application)
        ]
        if not people:
            raise ValidationError(
                _("节点“%(node)s”的指定处理人都不在职或看不到这笔申请，请管理员调整流程") % {"node": node}
            )
        if node.sign_off == SignOff.SINGLE:
            return [_least_loaded(people, load)]
        return sorted(people, key=lambda u: node.handler_users.index(u.username))
    # By role: for a sign-off, one approver per role (e.g. the team's 主管 and the 总经理); otherwise
    # the least busy person holding any of the roles. Only people who may see the application count.
    by_role: list[list[User]] = []
    for code in node.handler_roles:
        people = [u for u in User.objects.filter(role__code=code, is_active=True) if _can_see(u, application)]
        if people:
            by_role.append(people)
    if not by_role:
        raise ValidationError(
            _("节点“%(node)s”没有可处理的人员（需要角色：%(roles)s），请管理员调整流程或人员")
            % {"node": node, "roles": "、".join(node.handler_roles)}
        )
    if node.sign_off == SignOff.SINGLE:
        return [_least_loaded([u for group in by_role for u in group], load)]
    chosen: list[User] = []
    for group in by_role:
        rest = [u for u in group if u not in chosen]
        if rest:
            chosen.append(_least_loaded(rest, load))
    return chosen


# --- entering and leaving nodes ------------------------------------------------------------------


def _enter(application: LoanApplication, node: WorkflowNode, *, now) -> None:
    assignees = node_assignees(node, application)
    application.node = node
    application.visit += 1
    application.node_entered_at = now
    application.sla_due_at = now + timedelta(hours=node.sla_hours)
    application.handler = assignees[0]
    ApplicationTask.objects.bulk_create(
        [
            ApplicationTask(
                application=application,
                node=node,
                visit=application.visit,
                assignee=u,
                created_at=now,
                due_at=application.sla_due_at,
            )
            for u in assignees
        ]
    )


def _seconds_in_node(application: LoanApplication, now) -> int | None:
    if application.node_entered_at is None:
        return None
    return max(int((now - application.node_entered_at).total_seconds()), 0)


def _cancel_open_tasks(application: LoanApplication, now) -> None:
    ApplicationTask.objects.filter(application=application, status=TaskStatus.OPEN).update(
        status=TaskStatus.CANCELLED, done_at=now
    )


def _finish(application: LoanApplication, status: str, now) -> None:
    application.status = status
    application.node = None
    application.handler = None
    application.sla_due_at = None
    application.node_entered_at = None
    application.closed_at = now
    # Nothing more is uploaded to a finished application: its upload links stop working.
    CustomerLink.objects.filter(
        application=application, purpose=CustomerLink.Purpose.UPLOAD, revoked_at__isnull=True
    ).update(revoked_at=now)


def _record(
    application: LoanApplication,
    *,
    by: User | None,
    action: str,
    from_node: str,
    to_node: str,
    comment: str = "",
    now,
    seconds: int | None = None,
    to_user: User | None = None,
    skipped: list[str] | None = None,
) -> Transition:
    t = Transition.objects.create(
        application=application,
        action=action,
        from_node=from_node,
        to_node=to_node,
        by=by,
        to_user=to_user,
        at=now,
        comment=comment,
        seconds_in_node=seconds,
        skipped=skipped or [],
    )
    audit_record(
        action=Action.APPLICATION_ACTION,
        actor=by,
        actor_username="" if by else "system",
        obj=application,
        extra={
            "action": action,
            "from": from_node,
            "to": to_node,
            "comment": comment[:200],
            "seconds_in_node": seconds,
            "skipped": skipped or [],
            **({"to_user": to_user.username} if to_user else {}),
        },
    )
    return t


# --- notices ---------------------------------------------------------------------------------------


def _public_url(name: str, token: str) -> str:
    from django.conf import settings

    return f"{getattr(settings, 'PUBLIC_BASE_URL', '').rstrip('/')}{reverse(name, args=[token])}"


def notice_queue(application: LoanApplication, event: str, *, extra: str = "") -> Notice:
    """A customer-facing status message: an SMS the worker sends (quiet hours and opt-out apply)."""
    with translation.override("zh-hans"):
        texts = {
            "received": _("【%(org)s】您好，%(name)s：您的申请 %(no)s 已受理，我们会尽快联系您。"),
            "materials": _("【%(org)s】%(name)s 您好：您的申请 %(no)s 需要补充材料。%(extra)s"),
            "approved": _("【%(org)s】%(name)s 您好：您的申请 %(no)s 已审批通过，业务员将与您约定签约。"),
            "rejected": _(
                "【%(org)s】%(name)s 您好：很抱歉，您的申请 %(no)s 未能通过审批。如有疑问请联系您的业务员。"
            ),
            "disbursed": _("【%(org)s】%(name)s 您好：您的申请 %(no)s 已放款，请留意还款计划。%(extra)s"),
            "survey": _("【%(org)s】%(name)s 您好：欢迎为本次服务打分：%(extra)s"),
        }
        text = texts[event] % {
            "org": company_name(),
            "name": application.customer.name,
            "no": application.application_no,
            "extra": extra,
        }
    from loancrm.notifications.models import Delivery
    from loancrm.notifications.services import delivery_queue

    customer = application.customer
    delivery = delivery_queue(
        channel="sms",
        audience=Delivery.Audience.CUSTOMER,
        recipient=customer.phone,
        body=text,
        customer=customer,
        source=f"notice:{event}",
    )
    return Notice.objects.create(
        application=application,
        customer=customer,
        event=event,
        text=text,
        delivery=delivery,
        status=Notice.Status.FAILED if delivery.status in ("failed", "suppressed") else Notice.Status.PENDING,
    )


# --- applications ----------------------------------------------------------------------------------


def lead_assignee(department: Department, *, region: str = "", now=None) -> User | None:
    """The salesperson a new lead of `department` goes to, by the department's rule (线索分配)."""
    rule = AssignmentRule.objects.filter(department=department, is_active=True).first()
    if rule is None:
        # The nearest ancestor's rule applies to a team without its own.
        ancestors = [int(x) for x in department.path.strip("/").split("/") if x][:-1]
        rule = (
            AssignmentRule.objects.filter(department_id__in=ancestors, is_active=True)
            .order_by("-department__path")
            .first()
        )
    candidates = list(
        User.objects.filter(
            department_id__in=department_subtree_ids(department.pk), is_active=True, role__code="salesperson"
        ).order_by("username")
    )
    if not candidates:
        return None
    method = rule.method if rule else AssignmentMethod.LEAST_LOAD
    if method == AssignmentMethod.REGION and region:
        local = [u for u in candidates if u.department and u.department.region == region]
        candidates = local or candidates
        method = AssignmentMethod.LEAST_LOAD
    if method == AssignmentMethod.ROUND_ROBIN and rule is not None:
        locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        names = [u.pk for u in candidates]
        start = names.index(locked.last_user_id) + 1 if locked.last_user_id in names else 0
        chosen = candidates[start % len(candidates)]
        AssignmentRule.objects.filter(pk=rule.pk).update(last_user=chosen)
        return chosen
    load = dict(
        LoanApplication.objects.filter(owner__in=candidates, status__in=OPEN_STATUSES)
        .values_list("owner")
        .annotate(n=Count("id"))
    )
    return min(candidates, key=lambda u: (load.get(u.pk, 0), u.username))


def _raise_unless_sees_customer(user: User, customer: Customer, field: str) -> None:
    """The salesperson of an application must see its customer (materials are the customer's files)."""
    from loancrm.customers.selectors import customers_visible_to

    if customer.owner_id is not None and not customers_visible_to(user).filter(pk=customer.pk).exists():
        raise ValidationError(
            {
                field: [
                    _("%(user)s 看不到客户“%(customer)s”（属于 %(owner)s），请先在客户页面交接客户")
                    % {"user": user, "customer": customer.name, "owner": customer.owner}
                ]
            }
        )


def application_create(
    *,
    by: User,
    customer: Customer,
    product: Product,
    amount: Any,
    term_months: int,
    purpose: str = "",
    credit_grade: str = "",
    owner: User | None = None,
    region: str = "",
) -> LoanApplication:
    """A new application at the flow's first node. Its salesperson: the one given, else the creator
    when a salesperson, else the customer's, else the department's lead-assignment rule."""
    require_perm(by, Perm.INTAKE_CREATE)
    from loancrm.customers.selectors import customers_visible_to

    if not customers_visible_to(by).filter(pk=customer.pk).exists():
        raise _out_of_scope(by, f"customer:{customer.pk}")
    errors: dict[str, list[str]] = {}
    if not product.is_active:
        errors["product"] = [_("该产品已停用")]
    try:
        amount = positive_yuan(amount, "amount")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        amount = None
    if amount is not None and not (product.min_amount <= amount <= product.max_amount):
        errors["amount"] = [
            _("“%(product)s”的申请金额须在 %(low)s 至 %(high)s 元之间")
            % {"product": product, "low": f"{product.min_amount:,.0f}", "high": f"{product.max_amount:,.0f}"}
        ]
    try:
        term_months = int(term_months)
    except (TypeError, ValueError):
        term_months = 0
    if not (product.min_term_months <= term_months <= product.max_term_months):
        errors["term_months"] = [
            _("“%(product)s”的期限须在 %(low)s 至 %(high)s 个月之间")
            % {"product": product, "low": product.min_term_months, "high": product.max_term_months}
        ]
    if credit_grade and credit_grade not in CreditGrade.values:
        errors["credit_grade"] = [_("征信等级只能是 good（良好）、normal（一般）或 poor（较差）")]
    if errors:
        raise ValidationError(errors)

    if owner is not None:
        if not users_in_scope(by).filter(pk=owner.pk, is_active=True).exists() or not (
            owner.has_perm_code(Perm.INTAKE_CREATE) and owner.has_perm_code(Perm.CUSTOMER_EDIT)
        ):
            raise ValidationError({"owner": [_("只能分配给自己范围内、能办理进件的在职业务员")]})
        _raise_unless_sees_customer(owner, customer, "owner")
    elif by.data_scope == DataScope.OWN:
        owner = by
    elif customer.owner_id and customer.owner.is_active:
        owner = customer.owner
    department = (owner.department if owner else None) or customer.department or by.department
    region = region or (department.region if department else "")
    now = timezone.now()
    with transaction.atomic():
        assigned_by_rule = False
        if owner is None:
            owner = lead_assignee(department, region=region, now=now)
            assigned_by_rule = owner is not None
            if owner is None:
                raise ValidationError({"owner": [_("部门内没有在职的业务员可分配，请手动选择业务员")]})
        application = LoanApplication(
            application_no=next_application_no(now),
            customer=customer,
            product=product,
            customer_type=customer.customer_type,
            business_line=product.business_line,
            region=region,
            amount=amount,
            term_months=term_months,
            purpose=purpose,
            credit_grade=credit_grade,
            workflow=current_workflow(),
            owner=owner,
            department=owner.department or department,
            created_by=by,
            created_at=now,
            updated_at=now,
        )
        application.save()
        first, skipped = workflow.next_node(application, None)
        if first is None:
            raise ValidationError(_("审批流程没有节点，请管理员检查流程设置"))
        _enter(application, first, now=now)
        application.save()
        if customer.owner_id is None:
            # A pool customer becomes the assigned salesperson's: recorded as a hand-over (交接记录,
            # a history version and an audit entry), like a claim from the pool.
            import uuid

            from loancrm.customers.models import CustomerTransfer

            locked = Customer.objects.select_for_update().get(pk=customer.pk)
            locked.owner, locked.department = owner, application.department
            locked.pooled_at, locked.version, locked.updated_by = None, locked.version + 1, by
            locked._history_user = by
            locked._change_reason = str(_("新进件 %(no)s 分配") % {"no": application.application_no})
            locked.save(
                update_fields=["owner", "department", "pooled_at", "version", "updated_by", "updated_at"]
            )
            CustomerTransfer.objects.create(
                batch=uuid.uuid4(), customer=locked, from_owner=None, to_owner=owner,
                reason=locked._change_reason, by=by, at=now,
            )  # fmt: skip
            audit_record(
                action=Action.CUSTOMER_ASSIGN,
                actor=by,
                obj=locked,
                extra={"to": owner.username, "reason": locked._change_reason},
            )
        audit_record(
            action=Action.APPLICATION_CREATE,
            actor=by,
            obj=application,
            extra={
                "customer": customer.customer_no,
                "product": product.code,
                "amount": amount,
                "term_months": term_months,
                "owner": owner.username,
                "assigned_by_rule": assigned_by_rule,
                "workflow": f"{application.workflow.code} v{application.workflow.version}",
            },
        )
        _record(
            application,
            by=by,
            action="create",
            from_node="",
            to_node=first.code,
            now=now,
            to_user=owner,
            skipped=skipped,
            comment=_("按线索分配规则分配给 %(user)s") % {"user": owner} if assigned_by_rule else "",
        )
        notice_queue(application, "received")
    return application


APPROVED_TERMS = ("approved_amount", "approved_term_months", "approved_rate")


def _apply_data(
    application: LoanApplication, data: dict[str, Any], *, node: WorkflowNode, action: str
) -> list[str]:
    """Fields an action may set (征信等级 before the approval, the approved terms when the decision
    node is passed or voted on; anywhere else they are refused, not ignored)."""
    changed = []
    errors: dict[str, list[str]] = {}
    deciding = node.status_on_pass == ApplicationStatus.APPROVED and action in (
        Actions.SUBMIT,
        Actions.APPROVE,
    )
    for field in APPROVED_TERMS:
        if data.get(field) not in (None, "") and not deciding:
            errors[field] = [_("批准条件只能在审批决策节点同意时填写")]
    if data.get("credit_grade") not in (None, "") and application.status != ApplicationStatus.IN_PROGRESS:
        errors["credit_grade"] = [_("申请已审批，不能再修改征信等级")]
    if errors:
        raise ValidationError(errors)
    if data.get("credit_grade") not in (None, ""):
        if data["credit_grade"] not in CreditGrade.values:
            errors["credit_grade"] = [_("征信等级只能是 good（良好）、normal（一般）或 poor（较差）")]
        else:
            application.credit_grade = data["credit_grade"]
            changed.append("credit_grade")
    if data.get("purpose"):
        application.purpose = str(data["purpose"])[:200]
        changed.append("purpose")
    if data.get("approved_amount") not in (None, ""):
        try:
            amount = positive_yuan(data["approved_amount"], "approved_amount")
            product = application.product
            if amount > application.amount:
                # The route (e.g. skipping 风控 for small amounts) was decided on the requested amount.
                raise ValidationError(
                    {
                        "approved_amount": [
                            _("批准额度不能超过申请金额 %(amount)s 元；需要更高额度请退回预审修改申请")
                            % {"amount": f"{application.amount:,.2f}"}
                        ]
                    }
                )
            if amount > product.max_amount:
                # Also keeps it inside the column (14 digits): PostgreSQL refuses a larger number.
                raise ValidationError(
                    {
                        "approved_amount": [
                            _("批准额度不能超过“%(product)s”的最高金额 %(high)s 元")
                            % {"product": product, "high": f"{product.max_amount:,.0f}"}
                        ]
                    }
                )
            application.approved_amount = amount
            changed.append("approved_amount")
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if data.get("approved_term_months") not in (None, ""):
        try:
            term = int(data["approved_term_months"])
            if not 1 <= term <= 360:
                raise ValueError
            if term > application.product.max_term_months:
                raise ValueError
            application.approved_term_months = term
            changed.append("approved_term_months")
        except (TypeError, ValueError):
            errors["approved_term_months"] = [
                _("批准期限须为 1 至 %(n)s 个月") % {"n": application.product.max_term_months}
            ]
    if data.get("approved_rate") not in (None, ""):
        try:
            rate = Decimal(str(data["approved_rate"]).rstrip("%").strip())
            if not Decimal("0") <= rate <= Decimal("36"):
                raise ValueError
            application.approved_rate = rate.quantize(Decimal("0.01"))
            changed.append("approved_rate")
        except (ArithmeticError, ValueError):
            errors["approved_rate"] = [_("批准年利率须在 0 至 36 之间（单位 %）")]
    if errors:
        raise ValidationError(errors)
    return changed


def _require_comment(comment: str, what: str) -> None:
    if not (comment or "").strip():
        raise ValidationError({"comment": [_("%(what)s时必须填写原因") % {"what": what}]})


def _check_can_pass(application: LoanApplication, node: WorkflowNode, checks: dict[str, bool]) -> None:
    errors: dict[str, list[str]] = {}
    for field in node.required_fields:
        if getattr(application, field, None) in (None, ""):
            label = workflow.REQUIRABLE_FIELDS.get(field, field)
            errors[field] = [_("“%(node)s”需要先填写“%(field)s”") % {"node": node, "field": label}]
    if node.requires_materials:
        missing = missing_materials(application)
        if missing:
            errors["materials"] = [
                _("必需材料不齐：%(list)s") % {"list": "、".join(r.get_kind_display() for r in missing)}
            ]
    if node.review_stage == ReviewStage.DETAILED and node.checklist:
        unticked = [item for item in node.checklist if not checks.get(item)]
        if unticked:
            errors["checks"] = [
                _("复审清单还有未确认的项：%(list)s") % {"list": "；".join(_(i) for i in unticked)}
            ]
    if errors:
        raise ValidationError(errors)


def _advance(
    application: LoanApplication, node: WorkflowNode, *, by: User, action: str, comment: str, now
) -> None:
    seconds = _seconds_in_node(application, now)
    if node.status_on_pass:
        application.status = node.status_on_pass
        if node.status_on_pass == ApplicationStatus.APPROVED:
            application.decided_at = now
            application.approved_amount = application.approved_amount or application.amount
            application.approved_term_months = application.approved_term_months or application.term_months
        elif node.status_on_pass == ApplicationStatus.DISBURSED:
            application.disbursed_at = now
    following, skipped = workflow.next_node(application, node)
    _cancel_open_tasks(application, now)
    if following is None:
        final = application.status if application.status != ApplicationStatus.IN_PROGRESS else "closed"
        _finish(application, final, now)
        to_code = ""
    else:
        _enter(application, following, now=now)
        to_code = following.code
    _record(
        application,
        by=by,
        action=action,
        from_node=node.code,
        to_node=to_code,
        comment=comment,
        now=now,
        seconds=seconds,
        skipped=skipped,
    )
    if node.status_on_pass == ApplicationStatus.APPROVED:
        notice_queue(application, "approved")
    elif node.status_on_pass == ApplicationStatus.DISBURSED or following is None:
        if node.status_on_pass == ApplicationStatus.DISBURSED:
            notice_queue(application, "disbursed")
        _survey_link_create(application, by=by, now=now)


def application_act(
    *,
    by: User,
    application: LoanApplication,
    action: str,
    comment: str = "",
    to_node: str = "",
    to_user: User | None = None,
    data: dict[str, Any] | None = None,
    checks: dict[str, bool] | None = None,
    expected_visit: int | None = None,
) -> LoanApplication:
    """One action on the application's current node. Only the node's handler(s) may act (a manager in
    scope may also hand over, 转交); anyone else gets PermissionDenied and nothing changes.

    `expected_visit` is the node visit the user's page showed: a second click, or a page left open
    while someone else moved the application on, is refused instead of acting on the next node."""
    if action not in Actions.ALL:
        raise ValidationError({"action": [_("不支持的操作：%(action)s") % {"action": action}]})
    comment = (comment or "").strip()
    checks = checks or {}
    app = LoanApplication.objects.select_related("node").get(pk=application.pk)
    node = app.node
    if node is None or app.status not in OPEN_STATUSES:
        raise ValidationError(
            {"action": [_("申请已结束（%(status)s），不能再操作") % {"status": app.get_status_display()}]}
        )
    stale = _("这笔申请已被处理（现在在“%(node)s”），请刷新页面后再操作")
    if expected_visit is not None and expected_visit != app.visit:
        raise ValidationError({"action": [stale % {"node": node}]})
    is_handler = ApplicationTask.objects.filter(
        application=app, visit=app.visit, assignee=by, status=TaskStatus.OPEN
    ).exists()
    manager_handover = (
        action == Actions.TRANSFER and by.has_perm_code(Perm.CUSTOMER_ASSIGN) and _can_see(by, app)
    )
    denied = not (is_handler or manager_handover)
    if denied:
        record_denial(by, f"workflow.{node.code}", path=f"application:{app.pk}:{action}")
        raise PermissionDenied(_("您不是“%(node)s”的当前处理人，不能执行此操作") % {"node": node})

    with transaction.atomic():
        # of=self: PostgreSQL refuses FOR UPDATE on the nullable side of the outer joins (node, owner).
        app = (
            LoanApplication.objects.select_for_update(of=("self",))
            .select_related("node", "workflow", "product", "customer", "owner")
            .get(pk=application.pk)
        )
        node = app.node
        now = timezone.now()  # after the lock: the history stays in order
        if node is None or (expected_visit is not None and expected_visit != app.visit):
            raise ValidationError({"action": [stale % {"node": node or "—"}]})
        task = ApplicationTask.objects.filter(
            application=app, visit=app.visit, assignee=by, status=TaskStatus.OPEN
        ).first()
        if task is None and not (action == Actions.TRANSFER and manager_handover):
            # Someone moved the application on between the check and the lock.
            raise PermissionDenied(_("您不是“%(node)s”的当前处理人，不能执行此操作") % {"node": node})
        changed = _apply_data(app, data or {}, node=node, action=action)

        if action in (Actions.SUBMIT, Actions.APPROVE):
            _check_can_pass(app, node, checks)
            task.status, task.decision, task.comment, task.done_at = TaskStatus.DONE, action, comment, now
            task.checks = {k: bool(v) for k, v in checks.items()}
            task.save()
            still_open = ApplicationTask.objects.filter(
                application=app, visit=app.visit, status=TaskStatus.OPEN
            )
            if node.sign_off == SignOff.ALL and still_open.exists():
                # 会签: this approver agreed; the node waits for the others.
                app.handler = still_open.first().assignee
                _record(
                    app,
                    by=by,
                    action="vote",
                    from_node=node.code,
                    to_node=node.code,
                    comment=comment,
                    now=now,
                )
            else:
                _advance(app, node, by=by, action=action, comment=comment, now=now)
        elif action == Actions.REJECT:
            if not node.can_reject:
                raise ValidationError(
                    {"action": [_("“%(node)s”不能拒绝申请，可以退回或转交") % {"node": node}]}
                )
            _require_comment(comment, _("拒绝"))
            task.status, task.decision, task.comment, task.done_at = TaskStatus.DONE, action, comment, now
            task.checks = {k: bool(v) for k, v in checks.items()}
            task.save()
            seconds = _seconds_in_node(app, now)
            _cancel_open_tasks(app, now)
            app.decided_at = now
            _finish(app, ApplicationStatus.REJECTED, now)
            _record(
                app,
                by=by,
                action=action,
                from_node=node.code,
                to_node="",
                comment=comment,
                now=now,
                seconds=seconds,
            )
            notice_queue(app, "rejected")
            _survey_link_create(app, by=by, now=now)
        elif action in (Actions.RETURN, Actions.REQUEST_MATERIALS):
            nodes = workflow.nodes_of(app.workflow)
            if action == Actions.RETURN:
                _require_comment(comment, _("退回"))
                target = next((n for n in nodes if n.code == to_node), None)
                visited = set(Transition.objects.filter(application=app).values_list("to_node", flat=True))
                if target is None or target.order >= node.order or target.code not in visited:
                    raise ValidationError({"to_node": [_("只能退回到本申请已经过的前面节点")]})
            else:
                _require_comment(comment, _("要求补充材料"))
                target = next((n for n in nodes if n.requires_materials and n.order < node.order), None)
                if target is None:
                    if node.requires_materials:
                        raise ValidationError(
                            {"action": [_("已在资料收集节点，请直接上传或发送补充材料链接")]}
                        )
                    raise ValidationError({"action": [_("流程中没有资料收集节点")]})
            if app.status == ApplicationStatus.DISBURSED and target.order <= _status_order(
                nodes, ApplicationStatus.DISBURSED
            ):
                # The money is out: going back would run 放款 a second time.
                key = "to_node" if action == Actions.RETURN else "action"
                raise ValidationError({key: [_("申请已放款，不能退回到放款及之前的节点")]})
            seconds = _seconds_in_node(app, now)
            if task is not None:
                task.status, task.decision, task.comment, task.done_at = TaskStatus.DONE, action, comment, now
                task.save()
            _cancel_open_tasks(app, now)
            if app.status == ApplicationStatus.APPROVED and target.order <= _status_order(
                nodes, ApplicationStatus.APPROVED
            ):
                app.status = ApplicationStatus.IN_PROGRESS
            _enter(app, target, now=now)
            _record(
                app,
                by=by,
                action=action,
                from_node=node.code,
                to_node=target.code,
                comment=comment,
                now=now,
                seconds=seconds,
            )
            if action == Actions.REQUEST_MATERIALS:
                kinds = [r.kind for r in missing_materials(app)] or [MaterialKind.OTHER]
                _link, url = _link_create(
                    app, by=by, purpose=CustomerLink.Purpose.UPLOAD, kinds=kinds, now=now
                )
                notice_queue(
                    app,
                    "materials",
                    extra=_("原因：%(why)s。请通过此链接上传：%(url)s") % {"why": comment, "url": url},
                )
        else:  # transfer
            _require_comment(comment, _("转交"))
            if to_user is None or not to_user.is_active or to_user.pk == by.pk:
                raise ValidationError({"to_user": [_("请选择要转交的在职人员（不能是自己）")]})
            if not can_handle(to_user, node, app):
                raise ValidationError(
                    {
                        "to_user": [
                            _(
                                "%(user)s 不能处理“%(node)s”（需是该节点的处理角色、有相应权限且看得到这笔申请）"
                            )
                            % {"user": to_user, "node": node}
                        ]
                    }
                )
            if ApplicationTask.objects.filter(
                application=app, visit=app.visit, assignee=to_user, status=TaskStatus.DONE
            ).exists():
                raise ValidationError(
                    {"to_user": [_("%(user)s 已在本节点签过字，会签需要不同的人") % {"user": to_user}]}
                )
            if ApplicationTask.objects.filter(
                application=app, visit=app.visit, assignee=to_user, status=TaskStatus.OPEN
            ).exists():
                raise ValidationError({"to_user": [_("%(user)s 已是当前节点的处理人") % {"user": to_user}]})
            moved = (
                task
                or ApplicationTask.objects.filter(
                    application=app, visit=app.visit, status=TaskStatus.OPEN
                ).first()
            )
            from_user = moved.assignee
            moved.assignee = to_user
            moved.save(update_fields=["assignee"])
            if app.handler_id in (None, from_user.pk):
                app.handler = to_user
            _record(
                app,
                by=by,
                action=action,
                from_node=node.code,
                to_node=node.code,
                comment=comment,
                now=now,
                to_user=to_user,
            )
        app.updated_at = now
        app.save()
        if changed:
            audit_record(action=Action.APPLICATION_UPDATE, actor=by, obj=app, extra={"fields": changed})
    application.refresh_from_db()
    return application


def _status_order(nodes: list[WorkflowNode], status: str) -> int:
    """The order of the node whose passing gives `status` (approved, disbursed)."""
    for n in nodes:
        if n.status_on_pass == status:
            return n.order
    return 10**6


def application_reassign(
    *, by: User, application: LoanApplication, to_user: User, reason: str
) -> LoanApplication:
    """Manual reassignment of the salesperson (改派), recorded; open owner tasks move too."""
    require_perm(by, Perm.CUSTOMER_ASSIGN)
    if not _can_see(by, application):
        raise _out_of_scope(by, f"application:{application.pk}:reassign")
    _require_comment(reason, _("改派"))
    if not users_in_scope(by).filter(pk=to_user.pk, is_active=True).exists():
        raise ValidationError({"to_user": [_("只能改派给自己范围内的在职业务员")]})
    now = timezone.now()
    with transaction.atomic():
        from loancrm.customers.selectors import customers_visible_to
        from loancrm.customers.services import customers_assign

        if not customers_visible_to(to_user).filter(pk=application.customer_id).exists():
            # The new salesperson must see the customer (its page and files): it moves along, recorded.
            customers_assign(by=by, customers=[application.customer], to_owner=to_user, reason=reason)
        app = (
            LoanApplication.objects.select_for_update(of=("self",))
            .select_related("node", "owner")
            .get(pk=application.pk)
        )
        old = app.owner
        app.owner = to_user
        app.department = to_user.department or app.department
        if app.node and app.node.handler_type == HandlerType.OWNER:
            ApplicationTask.objects.filter(application=app, visit=app.visit, status=TaskStatus.OPEN).update(
                assignee=to_user
            )
            app.handler = to_user
        app.updated_at = now
        app.save()
        code = app.node.code if app.node else ""
        _record(
            app,
            by=by,
            action="reassign",
            from_node=code,
            to_node=code,
            comment=reason,
            now=now,
            to_user=to_user,
        )
        audit_record(
            action=Action.APPLICATION_REASSIGN,
            actor=by,
            obj=app,
            changes={"owner": [old.username if old else "", to_user.username]},
            extra={"reason": reason},
        )
    application.refresh_from_db()
    return application


# --- materials and OCR ------------------------------------------------------------------------------


def _ensure_open(application: LoanApplication) -> None:
    if application.status not in OPEN_STATUSES:
        raise ValidationError({"file": [_("申请已结束，不能再上传材料")]})


def material_upload(
    *, by: User, application: LoanApplication, kind: str, upload, link: CustomerLink | None = None
) -> ApplicationMaterial:
    """A file for the application (by staff, or by the customer through a link), kept as a customer
    attachment; OCR runs on ID card, bank card and licence photos for the user to confirm."""
    from loancrm.customers.services import attachment_store

    if kind not in MaterialKind.values:
        raise ValidationError({"kind": [_("请选择材料类型")]})
    if link is None:
        require_perm(by, Perm.INTAKE_CREATE)
        if not _can_see(by, application):
            raise _out_of_scope(by, f"application:{application.pk}:upload")
    _ensure_open(application)
    if link is not None:
        # A customer's phone sends photos and PDFs; nothing else is taken through a link.
        if kind not in link.kinds:
            raise ValidationError({"kind": [_("这个链接不需要上传该材料")]})
        if not str(upload.name).lower().endswith((".jpg", ".jpeg", ".png", ".pdf")):
            raise ValidationError({"file": [_("请上传 JPG、PNG 照片或 PDF 文件")]})
        locked = CustomerLink.objects.filter(pk=link.pk).first()
        if locked is None or not locked.usable:
            raise ValidationError({"file": [_("该链接已失效，请联系您的业务员重新发送")]})
    attachment = attachment_store(
        customer=application.customer, upload=upload, kind=MaterialKind(kind).label, uploaded_by=by
    )
    try:
        with transaction.atomic():
            material = ApplicationMaterial.objects.create(
                application=application,
                kind=kind,
                attachment=attachment,
                source=MaterialSource.LINK if link else MaterialSource.STAFF,
                # A photo OCR can read is read by the worker (1–3 s and ~0.5 GB: not in a web request).
                ocr={"status": "pending"} if _ocr_readable(kind, attachment) else {},
            )
            if material.ocr:
                from .tasks import ocr_material

                transaction.on_commit(lambda: ocr_material(material.pk))
            if link is not None:
                CustomerLink.objects.filter(pk=link.pk).update(uses=F("uses") + 1)
            audit_record(
                action=Action.LINK_UPLOAD if link else Action.MATERIAL_UPLOAD,
                actor=None if link else by,
                actor_username="customer" if link else "",
                obj=application,
                extra={
                    "kind": kind,
                    "file": attachment.original_name,
                    "size": attachment.size,
                    "link": link.pk if link else None,
                },
            )
    except Exception:
        from loancrm.customers.services import attachment_discard

        attachment_discard(attachment)
        raise
    return material


def _ocr_readable(kind: str, attachment) -> bool:
    return kind in OCR_MATERIALS and attachment.content_type in ("image/jpeg", "image/png")


def material_run_ocr(*, material: ApplicationMaterial) -> dict:
    """Read the photo with the offline OCR engine; the result waits for the user's confirmation."""
    from loancrm.customers.services import attachments_dir

    from . import ocr

    if material.kind not in ocr.DOCUMENT_KINDS:
        return {}
    path = attachments_dir() / material.attachment.stored_name
    try:
        result = ocr.recognise(material.kind, path.read_bytes()).as_dict()
    except ValidationError as exc:
        result = {"kind": material.kind, "fields": [], "lines": [], "error": exc.messages[0]}
    ApplicationMaterial.objects.filter(pk=material.pk).update(ocr=result)
    material.ocr = result
    return result


def material_review(
    *, by: User, material: ApplicationMaterial, result: str, comment: str = ""
) -> ApplicationMaterial:
    if not (by.has_perm_code(Perm.INTAKE_REVIEW) or material.application.handler_id == by.pk):
        record_denial(by, Perm.INTAKE_REVIEW)
        raise PermissionDenied
    if not _can_see(by, material.application):
        # intake.review is a right within the reviewer's data scope, like every other.
        raise _out_of_scope(by, f"application:{material.application_id}:review")
    if result not in (ReviewResult.ACCEPTED, ReviewResult.REJECTED):
        raise ValidationError({"result": [_("审核结果只能是合格或不合格")]})
    if result == ReviewResult.REJECTED:
        _require_comment(comment, _("判定材料不合格"))
    with transaction.atomic():
        material.review, material.review_comment, material.reviewed_by = result, comment[:200], by
        material.save(update_fields=["review", "review_comment", "reviewed_by"])
        audit_record(
            action=Action.MATERIAL_REVIEW,
            actor=by,
            obj=material.application,
            extra={
                "material": material.pk,
                "kind": material.kind,
                "result": result,
                "comment": comment[:200],
            },
        )
    return material


def ocr_display_value(key: str, value: str, *, reveal: bool) -> str:
    from loancrm.customers.validators import mask_bank_card, mask_id_number

    if reveal or not value:
        return value
    if key == "id_number":
        return mask_id_number(value)
    if key == "bank_account":
        return mask_bank_card(value)
    return value


def material_apply_ocr(*, by: User, material: ApplicationMaterial, values: dict[str, str]) -> Customer:
    """Write the values the user confirmed (and may have corrected) to the customer, through the
    customer's own validation; a value that fails is refused with the field's message."""
    from loancrm.customers.fields import SENSITIVE
    from loancrm.customers.services import customer_update

    _ensure_open(material.application)
    read = {f["key"]: f["value"] for f in material.ocr.get("fields", [])}
    data = {k: v for k, v in values.items() if k in read and k != "id_valid_long_term"}
    for key in list(data):
        # A sensitive value is shown masked to roles that may not reveal it; the masked text (or an
        # empty box) confirms what was read, anything else is the user's correction.
        if key in SENSITIVE and (
            not data[key] or data[key] == ocr_display_value(key, read[key], reveal=False)
        ):
            data[key] = read[key]
    if not data:
        raise ValidationError({"ocr": [_("请至少确认一项识别结果")]})
    customer = material.application.customer
    updated = customer_update(by=by, customer=customer, data=data, expected_version=None)
    with transaction.atomic():
        ApplicationMaterial.objects.filter(pk=material.pk).update(ocr_applied_at=timezone.now())
        audit_record(
            action=Action.OCR_APPLY,
            actor=by,
            obj=material.application,
            extra={"material": material.pk, "kind": material.kind, "fields": sorted(data)},
        )
    return updated


# --- customer links, surveys, problems --------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link_create(
    application: LoanApplication,
    *,
    by: User | None,
    purpose: str,
    kinds: list[str],
    now,
    hours: int | None = None,
) -> tuple[CustomerLink, str]:
    from loancrm.core.models import setting_value

    hours = hours or int(setting_value("customer_link_hours"))
    token = secrets.token_urlsafe(24)
    link = CustomerLink.objects.create(
        purpose=purpose,
        token_hash=token_hash(token),
        application=application,
        kinds=kinds,
        created_by=by,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        max_uses=1 if purpose == CustomerLink.Purpose.SURVEY else 20,
    )
    name = "intake:public_upload" if purpose == CustomerLink.Purpose.UPLOAD else "intake:public_survey"
    url = _public_url(name, token)
    audit_record(
        action=Action.LINK_CREATE,
        actor=by,
        actor_username="" if by else "system",
        obj=application,
        extra={"purpose": purpose, "kinds": kinds, "expires_at": link.expires_at, "link": link.pk},
    )
    return link, url


def upload_link_create(
    *, by: User, application: LoanApplication, kinds: list[str], hours: int | None = None
) -> tuple[CustomerLink, str]:
    """An expiring no-login link for the customer to upload these materials from a phone. The URL
    is returned once (only its hash is kept) and goes into a pending SMS notice."""
    require_perm(by, Perm.INTAKE_CREATE)
    if not _can_see(by, application):
        raise _out_of_scope(by, f"application:{application.pk}:link")
    _ensure_open(application)
    kinds = [k for k in kinds if k in MaterialKind.values]
    if not kinds:
        raise ValidationError({"kinds": [_("请选择需要客户上传的材料")]})
    if hours is not None and not 1 <= hours <= 24 * 14:
        raise ValidationError({"hours": [_("有效期须在 1 小时到 14 天之间")]})
    with transaction.atomic():
        link, url = _link_create(
            application,
            by=by,
            purpose=CustomerLink.Purpose.UPLOAD,
            kinds=kinds,
            now=timezone.now(),
            hours=hours,
        )
        labels = "、".join(str(MaterialKind(k).label) for k in kinds)
        notice_queue(
            application,
            "materials",
            extra=_("请上传：%(list)s。链接：%(url)s") % {"list": labels, "url": url},
        )
    return link, url


def link_revoke(*, by: User, link: CustomerLink) -> None:
    require_perm(by, Perm.INTAKE_CREATE)
    if not _can_see(by, link.application):
        raise _out_of_scope(by, f"application:{link.application_id}:link")
    with transaction.atomic():
        CustomerLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
        audit_record(action=Action.LINK_REVOKE, actor=by, obj=link.application, extra={"link": link.pk})


def link_for_token(token: str, purpose: str) -> CustomerLink | None:
    """The usable link of that token, or None (unknown, expired, revoked or used up look the same)."""
    link = (
        CustomerLink.objects.select_related("application", "application__customer")
        .filter(token_hash=token_hash(token or ""), purpose=purpose)
        .first()
    )
    return link if link is not None and link.usable else None


def _survey_link_create(application: LoanApplication, *, by: User | None, now) -> None:
    if application.links.filter(purpose=CustomerLink.Purpose.SURVEY).exists():
        return
    _link, url = _link_create(
        application, by=by, purpose=CustomerLink.Purpose.SURVEY, kinds=[], now=now, hours=24 * 14
    )
    notice_queue(application, "survey", extra=url)


def survey_submit(*, link: CustomerLink, score: int, comment: str = "", problem: str = "") -> SurveyResponse:
    """The customer's 1–5 score; a described problem (or a score of 1–2 with a comment) opens a
    problem report for the salesperson, tracked to resolution."""
    try:
        score = int(score)
    except (TypeError, ValueError):
        score = 0
    if not 1 <= score <= 5:
        raise ValidationError({"score": [_("请选择 1 到 5 分")]})
    application = link.application
    with transaction.atomic():
        locked = CustomerLink.objects.select_for_update().get(pk=link.pk)
        if not locked.usable or SurveyResponse.objects.filter(link=locked).exists():
            raise ValidationError({"score": [_("该调查已提交或已过期，感谢您的反馈")]})
        response = SurveyResponse.objects.create(
            customer=application.customer,
            application=application,
            link=locked,
            score=score,
            comment=comment[:2000],
        )
        CustomerLink.objects.filter(pk=link.pk).update(uses=F("uses") + 1)
        audit_record(
            action=Action.SURVEY_SUBMIT,
            actor_username="customer",
            obj=application,
            extra={"score": score, "has_comment": bool(comment)},
        )
        text = (problem or "").strip() or (comment.strip() if score <= 2 else "")
        if text:
            _problem_open(application.customer, application, text, source="survey", by=None)
    return response


def _problem_open(
    customer: Customer, application: LoanApplication | None, text: str, *, source: str, by: User | None
):
    assignee = (application.owner if application else None) or customer.owner
    problem = ProblemReport.objects.create(
        customer=customer,
        application=application,
        source=source,
        description=text[:2000],
        assignee=assignee,
        department=(application.department if application else customer.department),
    )
    audit_record(
        action=Action.PROBLEM_CREATE,
        actor=by,
        actor_username="" if by else "customer",
        obj=customer,
        extra={"problem": problem.pk, "source": source},
    )
    return problem


def problem_create(
    *, by: User, customer: Customer, description: str, application: LoanApplication | None = None
):
    from loancrm.customers.selectors import customers_visible_to

    require_perm(by, Perm.CUSTOMER_EDIT)
    if not customers_visible_to(by).filter(pk=customer.pk).exists():
        raise _out_of_scope(by, f"customer:{customer.pk}:problem")
    if application is not None and application.customer_id != customer.pk:
        raise ValidationError({"application": [_("该申请不是这位客户的")]})
    if not (description or "").strip():
        raise ValidationError({"description": [_("请描述客户遇到的问题")]})
    with transaction.atomic():
        return _problem_open(customer, application, description.strip(), source="staff", by=by)


def problem_resolve(*, by: User, problem: ProblemReport, resolution: str) -> ProblemReport:
    if not (problem.assignee_id == by.pk or by.has_perm_code(Perm.CUSTOMER_ASSIGN)):
        record_denial(by, Perm.CUSTOMER_ASSIGN)
        raise PermissionDenied
    if not (resolution or "").strip():
        raise ValidationError({"resolution": [_("请填写处理结果")]})
    with transaction.atomic():
        problem.status, problem.resolution = ProblemReport.Status.RESOLVED, resolution.strip()
        problem.resolved_at, problem.resolved_by = timezone.now(), by
        problem.save()
        audit_record(
            action=Action.PROBLEM_RESOLVE, actor=by, obj=problem.customer, extra={"problem": problem.pk}
        )
    return problem


# --- admin: products, workflow versions, assignment rules --------------------------------------------


NODE_FIELDS = [
    "code",
    "name",
    "handler_type",
    "handler_roles",
    "handler_users",
    "sign_off",
    "sla_hours",
    "required_fields",
    "requires_materials",
    "review_stage",
    "checklist",
    "skip_when",
    "can_reject",
    "status_on_pass",
]


# What passing a node may make of an application (not 审批中 or 已拒绝: a reject is its own action).
PASS_STATUSES = [ApplicationStatus.APPROVED, ApplicationStatus.DISBURSED, ApplicationStatus.CLOSED]


def _validate_nodes(nodes: list[dict[str, Any]]) -> None:
    from loancrm.accounts.models import Role

    errors: list[str] = []
    codes = [n.get("code") for n in nodes]
    if not nodes:
        errors.append(_("流程至少要有一个节点"))
    if len(set(codes)) != len(codes):
        errors.append(_("节点代码不能重复"))
    roles = set(Role.objects.values_list("code", flat=True))
    for i, n in enumerate(nodes, 1):
        label = n.get("name") or n.get("code") or i
        if not n.get("code") or not str(n["code"]).replace("_", "").isalnum():
            errors.append(_("第 %(i)s 个节点：代码只能用字母、数字和下划线") % {"i": i})
        if n.get("handler_type", HandlerType.OWNER) not in HandlerType.values:
            errors.append(_("节点“%(node)s”：处理人类型无效") % {"node": label})
        if n.get("sign_off", SignOff.SINGLE) not in SignOff.values:
            errors.append(_("节点“%(node)s”：签批方式无效") % {"node": label})
        if n.get("review_stage", "") not in ReviewStage.values:
            errors.append(_("节点“%(node)s”：审核阶段无效") % {"node": label})
        if n.get("handler_type") == HandlerType.ROLES:
            bad = [r for r in n.get("handler_roles", []) if r not in roles]
            if not n.get("handler_roles") or bad:
                errors.append(_("节点“%(node)s”：请选择有效的处理角色") % {"node": label})
        if n.get("handler_type") == HandlerType.USERS and not n.get("handler_users"):
            errors.append(_("节点“%(node)s”：请填写指定处理人") % {"node": label})
        for c in n.get("skip_when", []):
            if c.get("field") not in workflow.CONDITION_FIELDS or c.get("op") not in workflow.CONDITION_OPS:
                errors.append(_("节点“%(node)s”：跳过条件不完整") % {"node": label})
                continue
            bad = workflow.condition_value_error(c)
            if bad:
                errors.append(_("节点“%(node)s”：%(why)s") % {"node": label, "why": bad})
        for f in n.get("required_fields", []):
            if f not in workflow.REQUIRABLE_FIELDS:
                errors.append(_("节点“%(node)s”：不支持的必填字段 %(f)s") % {"node": label, "f": f})
        if n.get("status_on_pass") and n["status_on_pass"] not in PASS_STATUSES:
            errors.append(_("节点“%(node)s”：通过后状态无效") % {"node": label})
    if errors:
        raise ValidationError({"nodes": errors})


def workflow_publish(
    *, by: User | None, code: str, name: str, nodes: list[dict[str, Any]], note: str = ""
) -> WorkflowDefinition:
    """A new version becomes current; applications already running keep the version they started on."""
    if by is not None:
        require_perm(by, Perm.WORKFLOW_MANAGE)
    _validate_nodes(nodes)
    with transaction.atomic():
        previous = (
            WorkflowDefinition.objects.select_for_update().filter(code=code).order_by("-version").first()
        )
        version = previous.version + 1 if previous else 1
        WorkflowDefinition.objects.filter(code=code, is_current=True).update(is_current=False)
        definition = WorkflowDefinition.objects.create(
            code=code, name=name, version=version, is_current=True, note=note, created_by=by
        )
        WorkflowNode.objects.bulk_create(
            [
                WorkflowNode(
                    definition=definition, order=(i + 1) * 10, **{k: n[k] for k in NODE_FIELDS if k in n}
                )
                for i, n in enumerate(nodes)
            ]
        )
        audit_record(
            action=Action.WORKFLOW_PUBLISH,
            actor=by,
            actor_username="" if by else "system",
            obj=definition,
            extra={"version": version, "note": note, "nodes": [n["code"] for n in nodes]},
        )
    return definition


def workflow_nodes_as_data(definition: WorkflowDefinition) -> list[dict[str, Any]]:
    return [{k: getattr(n, k) for k in NODE_FIELDS} for n in workflow.nodes_of(definition)]


def ensure_default_workflow() -> WorkflowDefinition:
    existing = WorkflowDefinition.objects.filter(code=workflow.DEFAULT_CODE, is_current=True).first()
    if existing is not None:
        return existing
    return workflow_publish(
        by=None,
        code=workflow.DEFAULT_CODE,
        name="助贷标准审批流程",
        nodes=workflow.DEFAULT_NODES,
        note="默认 8 节点流程",
    )


def product_save(
    *, by: User, product: Product | None, data: dict[str, Any], requirements: list[dict]
) -> Product:
    require_perm(by, Perm.WORKFLOW_MANAGE)
    product = product or Product()
    with transaction.atomic():
        for key, value in data.items():
            setattr(product, key, value)
        product.full_clean()
        product.save()
        product.requirements.all().delete()
        MaterialRequirement.objects.bulk_create(
            [MaterialRequirement(product=product, order=i, **r) for i, r in enumerate(requirements)]
        )
        audit_record(
            action=Action.PRODUCT_UPDATE,
            actor=by,
            obj=product,
            extra={"requirements": [f"{r['customer_type']}:{r['kind']}" for r in requirements]},
        )
    return product


def assignment_rule_save(*, by: User, department: Department, method: str, is_active: bool) -> AssignmentRule:
    require_perm(by, Perm.WORKFLOW_MANAGE)
    if method not in AssignmentMethod.values:
        raise ValidationError({"method": [_("请选择分配方式")]})
    with transaction.atomic():
        rule, _created = AssignmentRule.objects.update_or_create(
            department=department,
            defaults={"method": method, "is_active": is_active, "updated_at": timezone.now()},
        )
        audit_record(
            action=Action.ASSIGNMENT_RULE_UPDATE,
            actor=by,
            obj=rule,
            extra={"department": department.name, "method": method, "active": is_active},
        )
    return rule


def open_tasks_q() -> Q:
    return Q(status=TaskStatus.OPEN)
