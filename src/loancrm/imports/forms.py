from django import forms
from django.utils.translation import gettext_lazy as _

from loancrm.accounts.models import User
from loancrm.accounts.scope import users_in_scope
from loancrm.core.forms import StyledFormMixin

from .models import OnDuplicate, OnError


class UploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=_("客户表格"),
        help_text=_("支持 .xlsx、.xls、.csv（UTF-8 或 GBK 编码均可）；表头可以不在第一行。"),
        error_messages={"required": _("请选择要导入的文件"), "empty": _("文件是空的。")},
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.csv"}),
    )


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj.display_name}（{obj.username}）"


class OptionsForm(StyledFormMixin, forms.Form):
    """How a batch treats duplicates, failed rows and owners (the column mapping is posted beside it)."""

    on_duplicate = forms.ChoiceField(
        label=_("系统中已有的客户（证件号码、手机号码或信用代码相同）"),
        choices=OnDuplicate.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择重复客户的处理方式")},
    )
    on_error = forms.ChoiceField(
        label=_("出错的行"),
        choices=OnError.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择出错行的处理方式")},
    )
    use_owner_column = forms.BooleanField(
        label=_("按表格中的“所属业务员”列分配（填的是用户名或姓名）"), required=False
    )
    default_owner = OwnerChoiceField(
        label=_("其余客户分配给"),
        queryset=User.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": _("只能分配给自己范围内在职的业务员")},
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_owner"].queryset = (
            users_in_scope(user).filter(is_active=True).select_related("department").order_by("username")
        )
