from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from loancrm.accounts.permissions import DataScope
from loancrm.customers.selectors import customers_visible_to


def workbench_stats(user) -> dict:
    """The user's own numbers; for a manager also the team's (everything inside their scope)."""
    now = timezone.localtime()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    week_start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    visible = customers_visible_to(user)
    own = visible.filter(owner=user).aggregate(
        total=Count("id"),
        month=Count("id", filter=Q(created_at__gte=month_start)),
        week=Count("id", filter=Q(created_at__gte=week_start)),
    )
    stats = {"own": own, "team": None, "scope": user.data_scope, "recent_is_own": True}
    stats["recent"] = list(visible.filter(owner=user).order_by("-id")[:8])
    if user.data_scope in (DataScope.DEPARTMENT, DataScope.ALL):
        stats["team"] = visible.aggregate(
            total=Count("id"), month=Count("id", filter=Q(created_at__gte=month_start))
        )
        if not stats["recent"]:
            # A manager or back-office user owns few customers: show what is new in their scope instead.
            stats["recent"] = list(visible.order_by("-id")[:8])
            stats["recent_is_own"] = False
        stats["team_top"] = list(
            visible.filter(created_at__gte=month_start)
            .values("owner__username", "owner__full_name")
            .annotate(n=Count("id"))
            .order_by("-n")[:5]
        )
    return stats
