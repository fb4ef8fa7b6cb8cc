from django import forms
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .labels import object_type_choices
from .models import Action


class AuditFilterForm(StyledFormMixin, forms.Form):
    compact = True

    actor = forms.CharField(label=_("用户名"), required=False)
    action = forms.ChoiceField(
        label=_("操作"), required=False, choices=[("", _("全部操作")), *Action.choices]
    )
    object_type = forms.ChoiceField(label=_("对象类型"), required=False)
    object_id = forms.CharField(label=_("对象 ID"), required=False)
    ip = forms.GenericIPAddressField(label=_("IP 地址"), required=False)
    date_from = forms.DateField(
        label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["object_type"].choices = [("", _("全部类型")), *object_type_choices()]
