"""The one place that decides which records a user may see (own / department subtree / all).

Every list, detail, search, export, report and API endpoint goes through `scope_queryset`; a record
outside it is simply not in the queryset, so asking for it answers 404.
"""

from typing import TypeVar

from django.db.models import Model, QuerySet

from .models import Department
from .permissions import DataScope

M = TypeVar("M", bound=Model)


def department_subtree_ids(department_id: int) -> list[int]:
    path = Department.objects.filter(pk=department_id).values_list("path", flat=True).first()
    if not path:
        return []
    return list(Department.objects.filter(path__startswith=path).values_list("id", flat=True))


def scope_queryset(
    user, qs: QuerySet[M], *, owner_field: str = "owner", department_field: str = "department"
) -> QuerySet[M]:
    scope = getattr(user, "data_scope", None) if user is not None and user.is_authenticated else None
    if scope == DataScope.ALL:
        return qs
    if scope == DataScope.DEPARTMENT and user.department_id:
        # Department only (no "OR owner = me"): an OR defeats the (department, id) index at scale,
        # and a record's department follows its owner's, so the manager's own records are inside.
        ids = department_subtree_ids(user.department_id)
        if len(ids) == 1:
            return qs.filter(**{f"{department_field}_id": ids[0]})
        return qs.filter(**{f"{department_field}_id__in": ids})
    if scope in (DataScope.OWN, DataScope.DEPARTMENT):
        return qs.filter(**{f"{owner_field}_id": user.pk})
    return qs.none()


def in_scope(user, *, owner_id: int | None, department_id: int | None) -> bool:
    """The per-record form of scope_queryset: may `user` see a record with this owner and department?
    (For picking handlers and collectors among people, where a queryset per person would be wasteful.)"""
    scope = getattr(user, "data_scope", None) if user is not None and user.is_authenticated else None
    if scope == DataScope.ALL:
        return True
    if scope == DataScope.DEPARTMENT and user.department_id:
        return department_id in department_subtree_ids(user.department_id)
    return scope in (DataScope.OWN, DataScope.DEPARTMENT) and owner_id == user.pk


def users_in_scope(user) -> QuerySet:
    """Users whose records this user may see (for owner pickers and filters)."""
    from .models import User

    qs = User.objects.all()
    scope = getattr(user, "data_scope", None)
    if scope == DataScope.ALL:
        return qs
    if scope == DataScope.DEPARTMENT and user.department_id:
        return qs.filter(department_id__in=department_subtree_ids(user.department_id))
    return qs.filter(pk=user.pk)
