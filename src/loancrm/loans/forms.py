from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .models import CollectionAttempt, Repayment, RepaymentMethod


class DisburseForm(StyledFormMixin, forms.Form):
    contract_no = forms.CharField(label=_("合同编号"), max_length=60)
    principal = forms.CharField(label=_("放款本金（元）"), max_length=30)
    annual_rate = forms.CharField(label=_("年利率"), max_length=12, help_text=_("如 0.0435 或 4.35%"))
    months = forms.IntegerField(label=_("期限（月）"), min_value=1, max_value=360)
    method = forms.ChoiceField(label=_("还款方式"), choices=RepaymentMethod.choices)
    disbursed_on = forms.DateField(
        label=_("放款日"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    comment = forms.CharField(label=_("备注"), max_length=200, required=False)

    def __init__(self, *args, methods=None, **kwargs):
        super().__init__(*args, **kwargs)
        if methods:
            self.fields["method"].choices = [(c, lbl) for c, lbl in RepaymentMethod.choices if c in methods]


class RepaymentForm(StyledFormMixin, forms.Form):
    amount = forms.CharField(label=_("还款金额（元）"), max_length=30)
    paid_on = forms.DateField(
        label=_("还款日"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        initial=timezone.localdate,
    )
    kind = forms.ChoiceField(label=_("类型"), choices=Repayment.Kind.choices)
    note = forms.CharField(label=_("备注"), max_length=200, required=False)


class AttemptForm(StyledFormMixin, forms.Form):
    way = forms.ChoiceField(label=_("方式"), choices=CollectionAttempt.Way.choices)
    result = forms.ChoiceField(label=_("结果"), choices=CollectionAttempt.Result.choices)
    note = forms.CharField(label=_("记录"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    promise_on = forms.DateField(
        label=_("承诺还款日"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    promise_amount = forms.CharField(label=_("承诺金额（元）"), max_length=30, required=False)
