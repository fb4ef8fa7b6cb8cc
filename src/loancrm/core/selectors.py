from datetime import timedelta

from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from loancrm.accounts.permissions import DataScope
from loancrm.accounts.scope import users_in_scope
from loancrm.customers.models import Customer
from loancrm.customers.selectors import customers_visible_to


def workbench_stats(user) -> dict:
    """The user's own numbers; for a manager also the team's (everything inside their scope)."""
    now = timezone.localtime()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    week_start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    visible = customers_visible_to(user)
    mine = visible.filter(owner=user)
    # Separate counts, each able to use an index, rather than one scan with conditional aggregates.
    own = {
        "total": mine.count(),
        "month": mine.filter(created_at__gte=month_start).count(),
        "week": mine.filter(created_at__gte=week_start).count(),
    }
    stats = {"own": own, "team": None, "scope": user.data_scope, "recent_is_own": True}
    stats["recent"] = list(visible.filter(owner=user).order_by("-id")[:8])
    if user.data_scope in (DataScope.DEPARTMENT, DataScope.ALL):
        stats["team"] = {
            "total": visible.count(),
            "month": visible.filter(created_at__gte=month_start).count(),
        }
        if not stats["recent"]:
            # A manager or back-office user owns few customers: show what is new in their scope instead.
            stats["recent"] = list(visible.order_by("-id")[:8])
            stats["recent_is_own"] = False
        # One small index range count per salesperson in scope (owner, created_at), rather than a
        # GROUP BY over the month's rows, which the planner runs badly at a million customers.
        # The owners are already limited to the user's scope.
        month_count = (
            Customer.objects.filter(owner=OuterRef("pk"), created_at__gte=month_start)
            .order_by()
            .values("owner")
            .annotate(n=Count("*"))
            .values("n")
        )
        top = (
            users_in_scope(user)
            .filter(is_active=True)
            .annotate(n=Coalesce(Subquery(month_count), 0))
            .filter(n__gt=0)
            .order_by("-n")[:5]
        )
        stats["team_top"] = [{"name": u.display_name, "n": u.n} for u in top]
    stats["work"] = workbench_work(user)
    return stats


def workbench_work(user) -> dict:
    """What waits for the user (and, for a manager, for the team): to-dos and the business numbers."""
    from loancrm.accounts.permissions import Perm
    from loancrm.intake.models import ApplicationStatus, ApplicationTask, TaskStatus
    from loancrm.intake.selectors import applications_visible_to
    from loancrm.loans.models import LoanStatus
    from loancrm.loans.selectors import loans_visible_to
    from loancrm.notifications.models import Todo

    now = timezone.now()
    month_start = timezone.localdate().replace(day=1)
    tasks = ApplicationTask.objects.filter(assignee=user, status=TaskStatus.OPEN).select_related(
        "application", "application__customer", "node"
    )
    reminders = Todo.objects.filter(user=user, status=Todo.Status.OPEN)
    work = {
        "tasks": tasks.count(),
        "tasks_late": tasks.filter(due_at__lt=now).count(),
        "reminders": reminders.count(),
        "follow_ups_due": customers_visible_to(user).filter(owner=user, next_follow_up_at__lt=now).count(),
        "items": sorted(
            [
                {"due": t.due_at, "title": f"{t.application.application_no} {t.application.customer.name} · {t.node}",
                 "url": f"/intake/{t.application_id}/"}
                for t in tasks.order_by("due_at")[:6]
            ]
            + [{"due": r.due_at, "title": r.title, "url": r.url} for r in reminders.order_by("due_at", "id")[:6]],
            key=lambda i: (i["due"] is None, i["due"] or now),
        )[:8],
        "team": None,
    }  # fmt: skip
    if user.has_perm_code(Perm.INTAKE_VIEW):
        mine = applications_visible_to(user).filter(owner=user)
        work["my_open_applications"] = mine.filter(status=ApplicationStatus.IN_PROGRESS).count()
    if user.has_perm_code(Perm.LOAN_VIEW):
        my_loans = loans_visible_to(user).filter(owner=user, disbursed_on__gte=month_start)
        work["my_disbursed"] = my_loans.aggregate(s=Sum("principal"))["s"] or 0
    if user.data_scope in (DataScope.DEPARTMENT, DataScope.ALL) and user.has_perm_code(Perm.INTAKE_VIEW):
        team_apps = applications_visible_to(user).filter(status=ApplicationStatus.IN_PROGRESS)
        work["team"] = {
            "open": team_apps.count(),
            "late": team_apps.filter(sla_due_at__lt=now).count(),
            "overdue_loans": loans_visible_to(user).filter(status=LoanStatus.OVERDUE).count()
            if user.has_perm_code(Perm.LOAN_VIEW)
            else None,
        }
    return work
