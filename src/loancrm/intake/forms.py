from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from loancrm.accounts.models import Role
from loancrm.core.forms import StyledFormMixin

from . import workflow
from .models import (
    ApplicationStatus,
    AssignmentMethod,
    CreditGrade,
    HandlerType,
    MaterialKind,
    Product,
    ReviewStage,
    SignOff,
)

PASS_STATUSES = ("approved", "disbursed", "closed")  # a pass never rejects
CUSTOMER_TYPES = [("individual", _("个人")), ("enterprise", _("企业"))]


class ApplicationForm(StyledFormMixin, forms.Form):
    product = forms.ModelChoiceField(
        label=_("产品"), queryset=Product.objects.filter(is_active=True), empty_label=_("请选择产品")
    )
    amount = forms.CharField(
        label=_("申请金额（元）"), max_length=30, help_text=_("可填 50000、5万 或 50,000元")
    )
    term_months = forms.IntegerField(label=_("申请期限（月）"), min_value=1, max_value=360)
    purpose = forms.CharField(label=_("资金用途"), max_length=200, required=False)
    credit_grade = forms.ChoiceField(
        label=_("征信等级"),
        choices=[("", _("暂未评估（预审时填写）")), *CreditGrade.choices],
        required=False,
    )
    owner = forms.ModelChoiceField(
        label=_("业务员"),
        queryset=None,
        required=False,
        empty_label=_("按线索分配规则自动分配"),
    )

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        if owners is None:
            del self.fields["owner"]


class UploadForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("材料类型"), choices=MaterialKind.choices)
    file = forms.FileField(
        label=_("文件"), help_text=_("JPG/PNG 照片或 PDF；身份证、银行卡、营业执照照片会自动识别")
    )


class LinkForm(StyledFormMixin, forms.Form):
    kinds = forms.MultipleChoiceField(
        label=_("需要客户上传的材料"),
        choices=MaterialKind.choices,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    hours = forms.IntegerField(label=_("有效期（小时）"), min_value=1, max_value=24 * 14, initial=72)


class PublicUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("材料"), choices=MaterialKind.choices)
    file = forms.FileField(label=_("文件"))


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("满意度"),
        coerce=int,
        choices=[
            (5, _("5 非常满意")),
            (4, _("4 满意")),
            (3, _("3 一般")),
            (2, _("2 不满意")),
            (1, _("1 很不满意")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("请选择 1 到 5 分")},
    )
    comment = forms.CharField(label=_("意见和建议"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    problem = forms.CharField(
        label=_("遇到需要我们处理的问题？"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ProductForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Product
        fields = [
            "code",
            "name",
            "business_line",
            "loan_kind",
            "min_amount",
            "max_amount",
            "min_term_months",
            "max_term_months",
            "annual_rate_min",
            "annual_rate_max",
            "description",
            "is_active",
        ]

    def clean(self):
        data = super().clean()
        for low, high, field in (
            ("min_amount", "max_amount", "max_amount"),
            ("min_term_months", "max_term_months", "max_term_months"),
            ("annual_rate_min", "annual_rate_max", "annual_rate_max"),
        ):
            a, b = data.get(low), data.get(high)
            if a is not None and b is not None and a > b:
                self.add_error(field, _("上限不能低于下限"))
        return data


class RequirementForm(StyledFormMixin, forms.Form):
    # A blank row posts the initials below and an empty 材料: it is not a change and is skipped.
    customer_type = forms.ChoiceField(label=_("客户类型"), choices=CUSTOMER_TYPES, initial="individual")
    kind = forms.ChoiceField(label=_("材料"), choices=[("", "—"), *MaterialKind.choices], required=False)
    required = forms.BooleanField(label=_("必需"), required=False, initial=True)
    note = forms.CharField(label=_("要求说明"), max_length=200, required=False)


RequirementFormSet = formset_factory(RequirementForm, extra=2, can_delete=True)


def _role_choices():
    return [(r.code, str(r)) for r in Role.objects.order_by("id")]


class NodeForm(StyledFormMixin, forms.Form):
    order = forms.IntegerField(label=_("顺序"), min_value=0, max_value=999)
    code = forms.SlugField(label=_("节点代码"), max_length=40)
    name = forms.CharField(label=_("节点名称"), max_length=60)
    # Initials equal to what a blank card posts: an untouched "new node" card is not a change.
    handler_type = forms.ChoiceField(
        label=_("处理人"), choices=HandlerType.choices, initial=HandlerType.OWNER
    )
    handler_roles = forms.MultipleChoiceField(
        label=_("处理角色"),
        choices=_role_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    handler_users = forms.CharField(label=_("指定处理人（用户名，逗号分隔）"), required=False, max_length=500)
    sign_off = forms.ChoiceField(label=_("签批方式"), choices=SignOff.choices, initial=SignOff.SINGLE)
    sla_hours = forms.IntegerField(label=_("时限（小时）"), min_value=1, max_value=24 * 365)
    required_fields = forms.MultipleChoiceField(
        label=_("必填字段"),
        choices=list(workflow.REQUIRABLE_FIELDS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    requires_materials = forms.BooleanField(label=_("需齐全必需材料（初审）"), required=False)
    review_stage = forms.ChoiceField(label=_("审核阶段"), choices=ReviewStage.choices, required=False)
    checklist = forms.CharField(
        label=_("复审清单（每行一项）"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    skip_field = forms.ChoiceField(
        label=_("跳过条件 1"),
        choices=[("", "—"), *[(k, v[0]) for k, v in workflow.CONDITION_FIELDS.items()]],
        required=False,
    )
    skip_op = forms.ChoiceField(
        label=_("比较"), choices=[("", "—"), *workflow.CONDITION_OPS.items()], required=False
    )
    skip_value = forms.CharField(
        label=_("值"),
        required=False,
        max_length=100,
        help_text=_("征信等级填 good / normal / poor；金额填数字"),
    )
    skip_field2 = forms.ChoiceField(
        label=_("且 条件 2"),
        choices=[("", "—"), *[(k, v[0]) for k, v in workflow.CONDITION_FIELDS.items()]],
        required=False,
    )
    skip_op2 = forms.ChoiceField(
        label=_("比较"), choices=[("", "—"), *workflow.CONDITION_OPS.items()], required=False
    )
    skip_value2 = forms.CharField(label=_("值"), required=False, max_length=100)
    can_reject = forms.BooleanField(label=_("可拒绝"), required=False)
    status_on_pass = forms.ChoiceField(
        label=_("通过后状态"),
        choices=[("", _("不变")), *[(c, lbl) for c, lbl in ApplicationStatus.choices if c in PASS_STATUSES]],
        required=False,
    )

    def clean(self):
        data = super().clean()
        for suffix in ("", "2"):
            f, op, v = (
                data.get(f"skip_field{suffix}"),
                data.get(f"skip_op{suffix}"),
                data.get(f"skip_value{suffix}"),
            )
            if any([f, op, v]) and not all([f, op, v not in (None, "")]):
                self.add_error(f"skip_value{suffix}", _("跳过条件要同时选择字段、比较方式并填写值"))
        return data

    def as_node(self) -> dict:
        d = self.cleaned_data
        clauses = []
        for suffix in ("", "2"):
            if d.get(f"skip_field{suffix}"):
                clauses.append(
                    {
                        "field": d[f"skip_field{suffix}"],
                        "op": d[f"skip_op{suffix}"],
                        "value": d[f"skip_value{suffix}"],
                    }
                )
        return {
            "code": d["code"],
            "name": d["name"],
            "handler_type": d["handler_type"],
            "handler_roles": list(d.get("handler_roles") or []),
            "handler_users": [u.strip() for u in (d.get("handler_users") or "").split(",") if u.strip()],
            "sign_off": d["sign_off"],
            "sla_hours": d["sla_hours"],
            "required_fields": list(d.get("required_fields") or []),
            "requires_materials": bool(d.get("requires_materials")),
            "review_stage": d.get("review_stage") or "",
            "checklist": [line.strip() for line in (d.get("checklist") or "").splitlines() if line.strip()],
            "skip_when": clauses,
            "can_reject": bool(d.get("can_reject")),
            "status_on_pass": d.get("status_on_pass") or "",
        }


def node_initial(node: dict, order: int) -> dict:
    clauses = node.get("skip_when") or []
    initial = {
        **{k: v for k, v in node.items() if k != "skip_when"},
        "order": order,
        "handler_users": ", ".join(node.get("handler_users") or []),
        "checklist": "\n".join(node.get("checklist") or []),
    }
    for i, suffix in enumerate(("", "2")):
        if i < len(clauses):
            initial[f"skip_field{suffix}"] = clauses[i].get("field")
            initial[f"skip_op{suffix}"] = clauses[i].get("op")
            initial[f"skip_value{suffix}"] = clauses[i].get("value")
    return initial


NodeFormSet = formset_factory(NodeForm, extra=1, can_delete=True)


class WorkflowMetaForm(StyledFormMixin, forms.Form):
    name = forms.CharField(label=_("流程名称"), max_length=100)
    note = forms.CharField(label=_("修改说明"), max_length=200, help_text=_("如：调整小额免风控条件"))


class AssignmentRuleForm(StyledFormMixin, forms.Form):
    # The empty choice: a department without a rule of its own shows as such, not as 按地区.
    method = forms.ChoiceField(
        label=_("分配方式"),
        choices=[("", _("未设置（沿用上级部门，或按在办量最少）")), *AssignmentMethod.choices],
    )
    is_active = forms.BooleanField(label=_("启用"), required=False, initial=True)
