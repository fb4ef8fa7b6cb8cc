from datetime import timedelta

from django.db.models import Count, OuterRef, Subquery
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
    return stats
