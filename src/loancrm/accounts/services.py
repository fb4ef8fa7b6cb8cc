"""Every change to users, departments and roles: permission check, transaction, audit entry."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils.translation import gettext as _

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record, diff, snapshot

from .access import require_perm
from .models import Department, Role, User
from .permissions import DEFAULT_ROLES, Perm

USER_FIELDS = ["username", "full_name", "phone", "email", "department", "role", "is_active"]
DEPARTMENT_FIELDS = ["name", "kind", "parent", "region", "is_active"]
ROLE_FIELDS = ["name", "data_scope", "permissions", "require_2fa", "description"]


def roles_ensure_defaults() -> None:
    """Create the seven built-in roles if missing (never overwrites an admin's edits)."""
    for code, (name, scope, perms) in DEFAULT_ROLES.items():
        Role.objects.get_or_create(
            code=code,
            defaults={"name": str(name), "data_scope": scope, "permissions": [str(p) for p in perms]},
        )


def user_create(*, by: User | None, data: dict[str, Any], password: str) -> User:
    if by is not None:
        require_perm(by, Perm.USERS_MANAGE)
    validate_password(password)
    with transaction.atomic():
        user = User(**data)
        user.set_password(password)
        user.save()
        audit_record(
            action=Action.USER_CREATE, actor=by, obj=user, changes=diff({}, snapshot(user, USER_FIELDS))
        )
    return user


def user_update(*, by: User, user: User, data: dict[str, Any]) -> User:
    require_perm(by, Perm.USERS_MANAGE)
    with transaction.atomic():
        before = snapshot(user, USER_FIELDS)
        for field, value in data.items():
            setattr(user, field, value)
        user.save()
        audit_record(
            action=Action.USER_UPDATE, actor=by, obj=user, changes=diff(before, snapshot(user, USER_FIELDS))
        )
    return user


def user_set_active(*, by: User, user: User, active: bool) -> User:
    """Deactivating keeps the user's customers where they are; they can be handed over later."""
    require_perm(by, Perm.USERS_MANAGE)
    if user.pk == by.pk and not active:
        raise ValueError(_("不能停用自己的账户"))
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            from rest_framework.authtoken.models import Token

            Token.objects.filter(user=user).delete()
        audit_record(action=Action.USER_ACTIVATE if active else Action.USER_DEACTIVATE, actor=by, obj=user)
    return user


def user_reset_password(*, by: User, user: User, password: str) -> None:
    require_perm(by, Perm.USERS_MANAGE)
    validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action=Action.PASSWORD_RESET, actor=by, obj=user)


def user_change_password(*, user: User, password: str) -> None:
    validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action=Action.PASSWORD_CHANGE, actor=user, obj=user)


def user_unlock(*, by: User, user: User) -> None:
    require_perm(by, Perm.USERS_MANAGE)
    from axes.utils import reset

    with transaction.atomic():
        reset(username=user.username)
        audit_record(action=Action.USER_UNLOCK, actor=by, obj=user)


def department_create(*, by: User | None, data: dict[str, Any]) -> Department:
    if by is not None:
        require_perm(by, Perm.DEPARTMENTS_MANAGE)
    with transaction.atomic():
        department = Department(**data)
        department.save()
        audit_record(
            action=Action.DEPARTMENT_CREATE,
            actor=by,
            obj=department,
            changes=diff({}, snapshot(department, DEPARTMENT_FIELDS)),
        )
    return department


def department_update(*, by: User, department: Department, data: dict[str, Any]) -> Department:
    require_perm(by, Perm.DEPARTMENTS_MANAGE)
    parent = data.get("parent")
    if parent is not None and parent.path.startswith(department.path):
        raise ValueError(_("上级部门不能是本部门或其下级部门"))
    with transaction.atomic():
        before = snapshot(department, DEPARTMENT_FIELDS)
        for field, value in data.items():
            setattr(department, field, value)
        department.save()
        audit_record(
            action=Action.DEPARTMENT_UPDATE,
            actor=by,
            obj=department,
            changes=diff(before, snapshot(department, DEPARTMENT_FIELDS)),
        )
    return department


def role_update(*, by: User, role: Role, data: dict[str, Any]) -> Role:
    require_perm(by, Perm.ROLES_MANAGE)
    with transaction.atomic():
        before = snapshot(role, ROLE_FIELDS)
        for field, value in data.items():
            setattr(role, field, value)
        role.permissions = sorted(str(p) for p in role.permissions)
        role.save()
        audit_record(
            action=Action.ROLE_UPDATE, actor=by, obj=role, changes=diff(before, snapshot(role, ROLE_FIELDS))
        )
    return role


def otp_device_confirm(*, user: User, device) -> None:
    # (The enrolling session is verified by the caller; other sessions of the user log in again.)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One authenticator per user: enrolling a new one retires the old.
        type(device).objects.filter(user=user).exclude(pk=device.pk).delete()
        audit_record(action=Action.OTP_ENROL, actor=user, obj=user)


def otp_devices_remove(*, by: User, user: User) -> None:
    if by.pk != user.pk:
        require_perm(by, Perm.USERS_MANAGE)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        audit_record(action=Action.OTP_REMOVE, actor=by, obj=user)
