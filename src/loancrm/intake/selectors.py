"""Every read of intake, already scoped to what the requesting user may see."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.accounts.scope import scope_queryset
from loancrm.core.dates import local_day_start

from . import workflow
from .models import (
    ApplicationMaterial,
    ApplicationStatus,
    ApplicationTask,
    LoanApplication,
    ProblemReport,
    Product,
    TaskStatus,
    Transition,
    WorkflowDefinition,
)


def applications_visible_to(user: User) -> QuerySet[LoanApplication]:
    if not (user.is_authenticated and user.has_perm_code(Perm.INTAKE_VIEW)):
        return LoanApplication.objects.none()
    base = LoanApplication.objects.select_related(
        "customer", "product", "node", "handler", "owner", "department", "workflow"
    )
    return scope_queryset(user, base)


def application_get_for(user: User, application_id: int) -> LoanApplication:
    """The application, or 404 for missing and out of scope alike."""
    application = applications_visible_to(user).filter(pk=application_id).first()
    if application is None:
        raise Http404
    return application


@dataclass
class ApplicationFilters:
    search: str = ""
    status: str = ""
    node: str = ""
    product: str = ""
    overdue: bool = False
    mine: bool = False
    customer_id: int | None = None
    customer_type: str = ""
    business_line: str = ""
    region: str = ""
    # Drill-down from the dashboards: whose, which channel, created when.
    owner_id: int | None = None
    channel: str = ""
    created_from: date | None = None
    created_to: date | None = None


def application_list(user: User, filters: ApplicationFilters | None = None) -> QuerySet[LoanApplication]:
    f = filters or ApplicationFilters()
    qs = applications_visible_to(user)
    if f.search:
        text = f.search.strip()
        qs = qs.filter(Q(application_no__istartswith=text) | Q(customer__name__startswith=text))
    if f.customer_id:
        qs = qs.filter(customer_id=f.customer_id)
    if f.customer_type:
        qs = qs.filter(customer_type=f.customer_type)
    if f.business_line:
        qs = qs.filter(business_line=f.business_line)
    if f.region:
        qs = qs.filter(region=f.region)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.node:
        qs = qs.filter(node__code=f.node)
    if f.product:
        qs = qs.filter(product__code=f.product)
    if f.overdue:
        qs = qs.filter(sla_due_at__lt=timezone.now(), node__isnull=False)
    if f.owner_id:
        qs = qs.filter(owner_id=f.owner_id)
    if f.channel:
        qs = qs.filter(customer__channel=f.channel)
    if f.created_from:
        qs = qs.filter(created_at__gte=local_day_start(f.created_from))
    if f.created_to:
        qs = qs.filter(created_at__lt=local_day_start(f.created_to + timedelta(days=1)))
    if f.mine:
        qs = qs.filter(tasks__assignee=user, tasks__status=TaskStatus.OPEN).distinct()
    return qs.order_by("-id")


def tasks_for(user: User, *, team: bool = False) -> QuerySet[ApplicationTask]:
    """Open to-dos (我的待办): the user's own, or with `team` every open task on the applications the
    user may see — the team's own and the 风控/审批/财务 steps waiting on them."""
    qs = ApplicationTask.objects.filter(status=TaskStatus.OPEN).select_related(
        "application", "application__customer", "application__product", "node", "assignee"
    )
    if team:
        qs = qs.filter(application__in=applications_visible_to(user).values("pk"))
    else:
        qs = qs.filter(assignee=user)
    return qs.order_by("due_at", "id")


def todo_count(user: User) -> int:
    if not user.is_authenticated:
        return 0
    from loancrm.loans.models import CollectionTask
    from loancrm.notifications.models import Todo

    return (
        Todo.objects.filter(user=user, status=Todo.Status.OPEN).count()
        + ApplicationTask.objects.filter(assignee=user, status=TaskStatus.OPEN).count()
        + ProblemReport.objects.filter(assignee=user, status=ProblemReport.Status.OPEN).count()
        # A salesperson's M1 collection tasks are to-dos too (collectors also see 催收 in the top bar).
        + (
            0
            if user.has_perm_code("collection.work")
            else CollectionTask.objects.filter(assignee=user, status=CollectionTask.Status.OPEN).count()
        )
    )


def problems_visible_to(user: User) -> QuerySet[ProblemReport]:
    qs = ProblemReport.objects.select_related("customer", "application", "assignee")
    return scope_queryset(user, qs, owner_field="assignee")


def application_history(application: LoanApplication) -> list[Transition]:
    return list(application.transitions.select_related("by", "to_user").order_by("at", "id"))


def application_materials(application: LoanApplication) -> list[ApplicationMaterial]:
    return list(
        application.materials.select_related("attachment", "reviewed_by").order_by("uploaded_at", "id")
    )


def application_tasks(application: LoanApplication) -> list[ApplicationTask]:
    return list(
        application.tasks.filter(visit=application.visit).select_related("assignee", "node").order_by("id")
    )


def application_route(application: LoanApplication) -> list[str]:
    return workflow.route(application)


def flow_steps(application: LoanApplication) -> list[dict]:
    """Every node of the application's flow version with its state, for the drawn flow."""
    passed = set(application.transitions.exclude(from_node="").values_list("from_node", flat=True))
    ahead = set(workflow.route(application))
    current = application.node.code if application.node_id else ""
    steps = []
    for node in workflow.nodes_of(application.workflow):
        if node.code == current:
            state = "current"
        elif node.code in ahead:
            state = "ahead"
        elif node.code in passed:
            state = "done"
        elif workflow.node_skipped(node, application):
            state = "skipped"
        elif application.status == ApplicationStatus.REJECTED or application.node_id is None:
            state = "not_reached"
        else:
            state = "skipped"
        steps.append({"node": node, "state": state})
    return steps


def node_seconds(application: LoanApplication) -> dict[str, int]:
    """Total time spent in each node (a node visited twice adds up)."""
    out: dict[str, int] = {}
    for t in application.transitions.exclude(seconds_in_node=None):
        out[t.from_node] = out.get(t.from_node, 0) + (t.seconds_in_node or 0)
    return out


def products_active() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).prefetch_related("requirements").order_by("id")


def workflows_current() -> QuerySet[WorkflowDefinition]:
    return WorkflowDefinition.objects.filter(is_current=True).order_by("code")


def workflow_versions(code: str) -> QuerySet[WorkflowDefinition]:
    return WorkflowDefinition.objects.filter(code=code).order_by("-version")
