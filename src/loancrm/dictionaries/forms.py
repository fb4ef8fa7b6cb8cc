from django import forms
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .services import CODE_MAX, LABEL_MAX, SORT_MAX


class DictionaryItemCreateForm(StyledFormMixin, forms.Form):
    """Field types only; the service checks the slug, uniqueness and the label and reports at the field."""

    code = forms.CharField(
        label=_("代码"),
        max_length=CODE_MAX,
        help_text=_("小写英文字母、数字、下划线或连字符，如 xiaohongshu；保存后不能修改。"),
        error_messages={"required": _("请填写代码")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    label = forms.CharField(
        label=_("名称"),
        max_length=LABEL_MAX,
        help_text=_("页面和导入时显示的名字，以后可以改。"),
        error_messages={"required": _("请填写名称")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class DictionaryItemForm(StyledFormMixin, forms.Form):
    label = forms.CharField(
        label=_("名称"), max_length=LABEL_MAX, error_messages={"required": _("请填写名称")}
    )
    sort_order = forms.IntegerField(
        label=_("排序"),
        min_value=0,
        max_value=SORT_MAX,
        help_text=_("数字小的排在前面。"),
        error_messages={
            "required": _("请填写排序"),
            "invalid": _("排序须为整数"),
            "min_value": _("排序不能小于 %(limit_value)s"),
            "max_value": _("排序不能大于 %(limit_value)s"),
        },
    )
    is_active = forms.BooleanField(
        label=_("启用"),
        required=False,
        help_text=_("停用后新建或编辑记录时不再可选；已经用了它的旧记录照常显示这个名称。"),
    )

    def __init__(self, *args, inline: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if inline:  # a row of the list edits name and order; 停用/启用 has its own button
            del self.fields["is_active"]
