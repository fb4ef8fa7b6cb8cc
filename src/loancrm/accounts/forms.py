from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .models import Department, Role, User
from .permissions import PERM_LABELS, Perm

PASSWORD_RULES = _("至少 8 位，不能全是数字，不能是常见密码，也不能与用户名、姓名过于相似。")


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("用户名或密码错误。连续输错 %(limit)s 次账户将被锁定 %(minutes)s 分钟。"),
        "inactive": _("该账户已停用，请联系管理员。"),
    }

    def get_invalid_login_error(self):
        from django.conf import settings

        return forms.ValidationError(
            self.error_messages["invalid_login"],
            code="invalid_login",
            params={"limit": settings.AXES_FAILURE_LIMIT, "minutes": int(settings.AXES_COOLOFF_TIME * 60)},
        )


class OTPTokenForm(StyledFormMixin, forms.Form):
    token = forms.CharField(
        label=_("6 位动态验证码"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
        error_messages={"min_length": _("验证码为 6 位数字"), "required": _("请输入验证码")},
    )


class SetPasswordForm(StyledFormMixin, forms.Form):
    password1 = forms.CharField(
        label=_("新密码"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("确认新密码"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        self.fields["password1"].help_text = PASSWORD_RULES

    def clean_password2(self):
        p1, p2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if p1 and p2 and p1 != p2:
            raise forms.ValidationError(_("两次输入的密码不一致"))
        if p2:
            password_validation.validate_password(p2, self.user)
        return p2


class PasswordChangeForm(SetPasswordForm):
    old_password = forms.CharField(
        label=_("当前密码"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    field_order = ["old_password", "password1", "password2"]

    def clean_old_password(self):
        value = self.cleaned_data["old_password"]
        if not self.user.check_password(value):
            raise forms.ValidationError(_("当前密码不正确"))
        return value


class UserForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = User
        fields = ["username", "full_name", "phone", "email", "department", "role"]
        help_texts = {"username": _("登录用，字母、数字或 @ . + - _，最长 150 位。")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].required = True
        self.fields["department"].required = True
        self.fields["department"].queryset = Department.objects.filter(is_active=True)


class UserCreateForm(UserForm):
    password1 = forms.CharField(
        label=_("初始密码"),
        help_text=PASSWORD_RULES,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("确认密码"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_password2(self):
        p1, p2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if p1 and p2 and p1 != p2:
            raise forms.ValidationError(_("两次输入的密码不一致"))
        if p2:
            password_validation.validate_password(p2)
        return p2


class DepartmentForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Department
        fields = ["name", "kind", "parent", "region", "is_active"]


class RoleForm(StyledFormMixin, forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        label=_("权限"),
        required=False,
        choices=[(str(p), PERM_LABELS[p]) for p in Perm],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Role
        fields = ["name", "data_scope", "require_2fa", "description", "permissions"]
