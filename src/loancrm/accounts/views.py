import textwrap
from base64 import b32encode
from io import BytesIO

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record

from . import selectors, services
from .access import require_perm
from .forms import (
    DepartmentForm,
    LoginForm,
    OTPTokenForm,
    PasswordChangeForm,
    RoleForm,
    SetPasswordForm,
    UserCreateForm,
    UserForm,
)
from .models import Department, Role
from .permissions import Perm


def lock_message() -> str:
    return _("连续输错密码 %(limit)s 次，账户已锁定，请 %(minutes)s 分钟后再试或联系管理员解锁。") % {
        "limit": settings.AXES_FAILURE_LIMIT,
        "minutes": int(settings.AXES_COOLOFF_TIME * 60),
    }


def locked_out(request, original_response=None, credentials=None):
    """django-axes calls this for a locked account: the API answers JSON, the web the log-in page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lock_message()}, status=403)
    form = LoginForm(request, data=request.POST or None)
    form.errors.clear()
    return render(request, "accounts/login.html", {"form": form, "lock_error": lock_message()}, status=403)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@require_POST
def logout_view(request):
    return auth_views.LogoutView.as_view()(request)


def _safe_next(request, default: str) -> str:
    nxt = request.GET.get("next") or request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


@login_required
def otp_verify(request):
    devices = TOTPDevice.objects.filter(user=request.user, confirmed=True)
    if not devices.exists():
        return redirect("accounts:otp_enrol")
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in devices:
            if device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return redirect(_safe_next(request, reverse("core:workbench")))
        audit_record(action=Action.OTP_FAILURE, actor=request.user, obj=request.user)
        form.add_error("token", _("验证码错误或已过期"))
    return render(request, "accounts/otp_verify.html", {"form": form})


def _qr_svg(uri: str) -> str:
    img = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buf = BytesIO()
    img.save(buf)
    return buf.getvalue().decode()


@login_required
def otp_enrol(request):
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=False)
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            services.otp_device_confirm(user=user, device=device)
            otp_login(request, device)
            messages.success(request, _("双因素认证已启用，以后登录需要输入动态验证码。"))
            return redirect("core:settings")
        form.add_error("token", _("验证码错误，请确认手机时间准确后重试"))
    return render(
        request,
        "accounts/otp_enrol.html",
        {
            "form": form,
            "qr_svg": _qr_svg(device.config_url),
            "secret_grouped": " ".join(textwrap.wrap(b32encode(device.bin_key).decode(), 4)),
            "required": bool(user.role_id and user.role.require_2fa),
            "has_confirmed": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        },
    )


@login_required
@require_POST
def otp_remove(request):
    if request.user.role_id and request.user.role.require_2fa:
        messages.error(request, _("您的角色要求双因素认证，不能关闭。"))
    else:
        services.otp_devices_remove(by=request.user, user=request.user)
        messages.success(request, _("已关闭双因素认证。"))
    return redirect("core:settings")


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        services.user_change_password(user=request.user, password=form.cleaned_data["password2"])
        from django.contrib.auth import update_session_auth_hash

        update_session_auth_hash(request, request.user)
        messages.success(request, _("密码已修改。"))
        return redirect("core:settings")
    return render(request, "accounts/password_change.html", {"form": form})


# ---- Administration: users, departments, roles -------------------------------------------------


@login_required
def user_list(request):
    require_perm(request.user, Perm.USERS_MANAGE, path=request.path)
    g = request.GET
    qs = selectors.users_for_admin(
        request.user,
        search=g.get("q", "").strip(),
        department_id=g.get("department") or None,
        role_id=g.get("role") or None,
        active=g.get("active", ""),
    )
    page = Paginator(qs, 50).get_page(g.get("page"))
    return render(
        request,
        "accounts/user_list.html",
        {
            "page": page,
            "departments": selectors.departments_tree(),
            "roles": Role.objects.all(),
            "q": g,
            "query": _query_without_page(g),
        },
    )


@login_required
def user_create(request):
    require_perm(request.user, Perm.USERS_MANAGE, path=request.path)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in UserForm.Meta.fields}
        user = services.user_create(by=request.user, data=data, password=form.cleaned_data["password2"])
        messages.success(request, _("用户 %(name)s 已创建。") % {"name": user.display_name})
        return redirect("accounts:user_list")
    return render(request, "accounts/user_form.html", {"form": form, "creating": True})


@login_required
def user_edit(request, user_id: int):
    require_perm(request.user, Perm.USERS_MANAGE, path=request.path)
    target = selectors.user_get_for_admin(request.user, user_id)
    form = UserForm(request.POST or None, instance=target)
    pw_form = SetPasswordForm(user=target)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in UserForm.Meta.fields}
        # ModelForm already set the values on the instance; reload so the audit diff sees the change.
        target.refresh_from_db()
        services.user_update(by=request.user, user=target, data=data)
        messages.success(request, _("已保存。"))
        return redirect("accounts:user_edit", user_id=target.pk)
    return render(
        request,
        "accounts/user_form.html",
        {
            "form": form,
            "target": target,
            "pw_form": pw_form,
            "locked": selectors.user_is_locked(target),
            "has_otp": TOTPDevice.objects.filter(user=target, confirmed=True).exists(),
            "customer_count": target.customers.count(),
        },
    )


@login_required
@require_POST
def user_action(request, user_id: int, action: str):
    require_perm(request.user, Perm.USERS_MANAGE, path=request.path)
    target = selectors.user_get_for_admin(request.user, user_id)
    if action == "deactivate":
        try:
            services.user_set_active(by=request.user, user=target, active=False)
            messages.success(request, _("已停用。该用户的客户保持不变，可稍后转交他人。"))
        except ValueError as exc:
            messages.error(request, str(exc))
    elif action == "activate":
        services.user_set_active(by=request.user, user=target, active=True)
        messages.success(request, _("已启用。"))
    elif action == "unlock":
        services.user_unlock(by=request.user, user=target)
        messages.success(request, _("已解锁。"))
    elif action == "remove-otp":
        services.otp_devices_remove(by=request.user, user=target)
        messages.success(request, _("已解除该用户的双因素认证，下次登录需重新绑定。"))
    elif action == "reset-password":
        pw_form = SetPasswordForm(request.POST, user=target)
        if pw_form.is_valid():
            services.user_reset_password(
                by=request.user, user=target, password=pw_form.cleaned_data["password2"]
            )
            messages.success(request, _("密码已重置。"))
        else:
            for errors in pw_form.errors.values():
                for e in errors:
                    messages.error(request, _("重置密码失败：%(error)s") % {"error": e})
    return redirect("accounts:user_edit", user_id=target.pk)


@login_required
def department_list(request):
    require_perm(request.user, Perm.DEPARTMENTS_MANAGE, path=request.path)
    return render(request, "accounts/department_list.html", {"departments": selectors.departments_tree()})


@login_required
def department_form(request, department_id: int | None = None):
    require_perm(request.user, Perm.DEPARTMENTS_MANAGE, path=request.path)
    department = selectors.department_get_for_admin(request.user, department_id) if department_id else None
    form = DepartmentForm(request.POST or None, instance=department)
    if department is not None:
        form.fields["parent"].queryset = Department.objects.exclude(path__startswith=department.path)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if department is None:
                services.department_create(by=request.user, data=data)
            else:
                department.refresh_from_db()
                services.department_update(by=request.user, department=department, data=data)
        except (ValueError, ValidationError) as exc:
            form.add_error("parent", str(exc))
        else:
            messages.success(request, _("已保存。"))
            return redirect("accounts:department_list")
    return render(request, "accounts/department_form.html", {"form": form, "department": department})


@login_required
def role_list(request):
    require_perm(request.user, Perm.ROLES_MANAGE, path=request.path)
    return render(request, "accounts/role_list.html", {"roles": selectors.roles_for_admin(request.user)})


@login_required
def role_edit(request, role_id: int):
    require_perm(request.user, Perm.ROLES_MANAGE, path=request.path)
    role = selectors.role_get_for_admin(request.user, role_id)
    form = RoleForm(request.POST or None, instance=role)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        role.refresh_from_db()
        services.role_update(by=request.user, role=role, data=data)
        messages.success(request, _("已保存。"))
        return redirect("accounts:role_list")
    return render(request, "accounts/role_form.html", {"form": form, "role": role})


def _query_without_page(querydict) -> str:
    q = querydict.copy()
    q.pop("page", None)
    return q.urlencode()
