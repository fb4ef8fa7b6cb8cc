from django.db.models import Count, Q, QuerySet
from django.http import Http404

from .models import Department, Role, User
from .permissions import Perm


def _require(user, perm: Perm) -> bool:
    return getattr(user, "is_authenticated", False) and user.has_perm_code(perm)


def users_for_admin(
    by, *, search: str = "", department_id: int | None = None, role_id: int | None = None, active: str = ""
) -> QuerySet[User]:
    if not _require(by, Perm.USERS_MANAGE):
        return User.objects.none()
    qs = User.objects.select_related("department", "role")
    if search:
        qs = qs.filter(
            Q(username__icontains=search) | Q(full_name__icontains=search) | Q(phone__contains=search)
        )
    if department_id:
        qs = qs.filter(department_id=department_id)
    if role_id:
        qs = qs.filter(role_id=role_id)
    if active in ("1", "0"):
        qs = qs.filter(is_active=active == "1")
    return qs.order_by("department__path", "username")


def user_get_for_admin(by, user_id: int) -> User:
    try:
        return users_for_admin(by).get(pk=user_id)
    except (User.DoesNotExist, ValueError):
        raise Http404 from None


def departments_tree(by=None) -> QuerySet[Department]:
    """All departments in tree order (path), with their headcount."""
    return (
        Department.objects.select_related("parent")
        .annotate(user_count=Count("users", filter=Q(users__is_active=True)))
        .order_by("path")
    )


def department_get_for_admin(by, department_id: int) -> Department:
    if not _require(by, Perm.DEPARTMENTS_MANAGE):
        raise Http404
    try:
        return Department.objects.get(pk=department_id)
    except (Department.DoesNotExist, ValueError):
        raise Http404 from None


def roles_for_admin(by) -> QuerySet[Role]:
    if not _require(by, Perm.ROLES_MANAGE):
        return Role.objects.none()
    return Role.objects.annotate(user_count=Count("users", filter=Q(users__is_active=True))).order_by("id")


def role_get_for_admin(by, role_id: int) -> Role:
    try:
        return roles_for_admin(by).get(pk=role_id)
    except (Role.DoesNotExist, ValueError):
        raise Http404 from None


def user_is_locked(user: User) -> bool:
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.utils import timezone

    since = timezone.now() - timezone.timedelta(hours=settings.AXES_COOLOFF_TIME)
    return AccessAttempt.objects.filter(
        username=user.username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT, attempt_time__gte=since
    ).exists()


def company_name() -> str:
    """The company's name: the root department (the signature of customer messages and reports)."""
    root = Department.objects.filter(parent__isnull=True).order_by("id").first()
    return root.name if root else ""
