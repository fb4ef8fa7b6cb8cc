"""Reads for the dashboard page (the panels' own reads are in panels.py)."""

from typing import Any

from django.http import Http404

from loancrm.accounts.models import Department, User
from loancrm.accounts.permissions import DataScope
from loancrm.accounts.scope import department_subtree_ids, users_in_scope

from .models import FactRefresh, SavedReport


def filter_choices(user: User) -> dict[str, Any]:
    """What the filter drop-downs offer: only departments and people inside the user's scope."""
    from loancrm.dictionaries.selectors import dictionary_choices
    from loancrm.intake.models import Product

    if user.data_scope == DataScope.ALL:
        departments = Department.objects.filter(is_active=True)
    elif user.data_scope == DataScope.DEPARTMENT and user.department_id:
        departments = Department.objects.filter(pk__in=department_subtree_ids(user.department_id))
    else:
        departments = Department.objects.none()
    people = (
        users_in_scope(user)
        .filter(is_active=True, role__code__in=["salesperson", "manager"])
        .order_by("username")
    )
    regions = sorted({r for r in Department.objects.values_list("region", flat=True) if r})
    return {
        "departments": list(departments.order_by("path")),
        "people": list(people),
        "channels": dictionary_choices("channel", include_blank=False),
        "products": list(Product.objects.order_by("code").values_list("code", "name")),
        "regions": regions,
    }


def saved_reports_for(user: User):
    return SavedReport.objects.filter(user=user).order_by("name")


def saved_report_get_for(user: User, report_id: int) -> SavedReport:
    report = SavedReport.objects.filter(user=user, pk=report_id).first()
    if report is None:
        raise Http404
    return report


def freshness() -> dict[str, Any]:
    return {r.name: r for r in FactRefresh.objects.all()}
