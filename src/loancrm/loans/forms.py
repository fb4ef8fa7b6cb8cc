from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .models import CollectionAttempt, Institution, LoanTerms, PostLoanVisit, Repayment, RepaymentMethod


class DisburseForm(StyledFormMixin, forms.Form):
    contract_no = forms.CharField(label=_("合同编号"), max_length=60)
    principal = forms.CharField(label=_("放款本金（元）"), max_length=30)
    annual_rate = forms.CharField(label=_("年利率"), max_length=12, help_text=_("如 0.0435 或 4.35%"))
    months = forms.IntegerField(label=_("期限（月）"), min_value=1, max_value=360)
    method = forms.ChoiceField(label=_("还款方式"), choices=RepaymentMethod.choices)
    disbursed_on = forms.DateField(
        label=_("放款日"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    contract_file = forms.FileField(
        label=_("合同文件"), required=False, help_text=_("签署后的合同扫描件（PDF/图片）")
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


class InstitutionForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Institution
        fields = ["name", "kind", "contact", "phone", "is_active"]


ORDERS = [
    ("penalty,interest,principal", _("罚息 → 利息 → 本金")),
    ("interest,penalty,principal", _("利息 → 罚息 → 本金")),
    ("principal,interest,penalty", _("本金 → 利息 → 罚息")),
]


class LoanTermsForm(StyledFormMixin, forms.ModelForm):
    methods = forms.MultipleChoiceField(
        label=_("可选还款方式"),
        choices=RepaymentMethod.choices,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    allocation = forms.ChoiceField(label=_("还款冲抵顺序"), choices=ORDERS)

    class Meta:
        model = LoanTerms
        fields = [
            "institution",
            "methods",
            "penalty_daily_rate",
            "prepayment",
            "service_fee_rate",
            "service_fee_payer",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.allocation_order:
            self.initial["allocation"] = ",".join(self.instance.allocation_order)


class BucketForm(StyledFormMixin, forms.Form):
    code = forms.CharField(label=_("代码"), max_length=10)
    label = forms.CharField(label=_("名称"), max_length=40)
    min_days = forms.IntegerField(label=_("逾期天数从"), min_value=0)
    max_days = forms.IntegerField(label=_("逾期天数到（空为不限）"), min_value=0, required=False)


BucketFormSet = forms.formset_factory(BucketForm, extra=1, can_delete=True)


class VisitForm(StyledFormMixin, forms.Form):
    way = forms.ChoiceField(label=_("方式"), choices=PostLoanVisit.Way.choices)
    fund_use = forms.CharField(
        label=_("资金用途核实"),
        max_length=200,
        help_text=_("如 与申请用途一致：店铺进货"),
        error_messages={"required": _("请填写资金实际用途")},
    )
    satisfaction = forms.TypedChoiceField(
        label=_("满意度"), coerce=int, required=False, empty_value=None,
        choices=[("", "—"), *[(i, str(i)) for i in range(5, 0, -1)]],
    )  # fmt: skip
    note = forms.CharField(label=_("回访记录"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
