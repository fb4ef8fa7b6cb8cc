from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from loancrm.core.crypto import EncryptedTextField
from loancrm.core.forms import StyledFormMixin
from loancrm.dictionaries.selectors import dictionary_choices

from .cleaning import clean_customer_data
from .fields import DICTIONARY_FIELDS, SENSITIVE, editable_fields
from .models import Customer, CustomerAsset, FollowUp, RelatedPerson


def _form_field(name: str, instance: Customer | None) -> forms.Field:
    mf = Customer._meta.get_field(name)
    label = mf.verbose_name
    if name in DICTIONARY_FIELDS:
        keep = getattr(instance, name, "") if instance else ""
        return forms.ChoiceField(
            label=label, required=False, choices=dictionary_choices(DICTIONARY_FIELDS[name], keep=keep)
        )
    if name == "product_preferences":
        return forms.MultipleChoiceField(
            label=label,
            required=False,
            choices=dictionary_choices("product_preference", include_blank=False),
            widget=forms.CheckboxSelectMultiple,
        )
    if isinstance(mf, models.DateTimeField):
        return forms.DateTimeField(
            label=label,
            required=False,
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        )
    if isinstance(mf, models.DateField):
        return forms.DateField(
            label=label, required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        )
    if isinstance(mf, EncryptedTextField):
        return forms.CharField(label=label, required=False, max_length=40)
    if isinstance(mf, models.TextField):
        return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    if mf.choices:
        return forms.ChoiceField(label=label, required=False, choices=[("", "—"), *mf.choices])
    if isinstance(mf, models.DecimalField):
        # Text, not type=number: people type 5万 or 50,000元 and the browser would silently drop the 万.
        is_rate = name.startswith("acceptable_rate")
        return forms.CharField(
            label=label,
            required=False,
            max_length=30,
            widget=forms.TextInput(attrs={"inputmode": "decimal"}),
            help_text=None if is_rate else _("可填 50000、5万 或 3.5万"),
        )
    field = mf.formfield(required=False)
    return field


class CustomerForm(StyledFormMixin, forms.Form):
    """All customer fields; validation is `clean_customer_data`, the same path as API and import."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, instance: Customer | None = None, **kwargs):
        self.instance = instance
        initial = kwargs.pop("initial", {}) or {}
        if instance is None:
            initial.setdefault("stage", Customer._meta.get_field("stage").default)
        if instance is not None:
            for name in editable_fields():
                if name not in SENSITIVE:
                    initial.setdefault(name, getattr(instance, name))
            initial["version"] = instance.version
        super().__init__(*args, initial=initial, **kwargs)
        for name in editable_fields():
            self.fields[name] = _form_field(name, instance)
        self.fields["customer_type"].required = True
        self.fields["customer_type"].choices = self.fields["customer_type"].choices[1:]
        self.fields["name"].required = True
        self.fields["name"].label = _("姓名 / 企业名称")
        for name in ("phone", "backup_phone", "employer_phone"):
            self.fields[name].widget.attrs["inputmode"] = "tel"
        self.fields["phone"].help_text = _("个人客户必填")
        self.fields["uscc"].help_text = _("企业客户必填")
        self.fields["gender"].help_text = self.fields["birth_date"].help_text = _("填写身份证号码后自动识别")
        for name in SENSITIVE:
            # Never put a stored sensitive value into the page: show it masked, blank keeps it.
            current = getattr(instance, name, "") if instance else ""
            if current:
                self.fields[name].widget.attrs["placeholder"] = getattr(instance, f"masked_{name}", "")
                self.fields[name].help_text = _("已录入，留空则不修改")
        self.cleaned_customer: dict = {}
        self.restyle()

    def restyle(self) -> None:
        # The mixin styled the fields that existed at __init__; these were added afterwards.
        for field in self.fields.values():
            w = field.widget
            if isinstance(w, forms.CheckboxSelectMultiple | forms.HiddenInput):
                continue
            css = "form-select" if isinstance(w, forms.Select) else "form-control"
            if css not in w.attrs.get("class", ""):
                w.attrs["class"] = f"{w.attrs.get('class', '')} {css}".strip()

    def clean(self):
        data = {k: v for k, v in self.cleaned_data.items() if k in editable_fields()}
        for name in SENSITIVE:
            if not data.get(name) and self.instance is not None and getattr(self.instance, name):
                data.pop(name, None)  # blank means "keep what is stored"
        try:
            self.cleaned_customer = clean_customer_data(data, instance=self.instance)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return self.cleaned_data


class FollowUpForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = FollowUp
        fields = ["way", "content", "next_step", "next_follow_up_at", "stage"]
        widgets = {
            "content": forms.Textarea(attrs={"rows": 3}),
            "next_follow_up_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["way"] = forms.ChoiceField(
            label=_("跟进方式"), choices=dictionary_choices("follow_up_way", include_blank=False)
        )
        self.fields["stage"] = forms.ChoiceField(
            label=_("跟进后阶段"), required=False, choices=dictionary_choices("stage")
        )
        for name in ("way", "stage"):
            self.fields[name].widget.attrs["class"] = "form-select"


class RelatedPersonForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = RelatedPerson
        fields = ["relation", "name", "phone", "id_number", "note"]
        widgets = {"phone": forms.TextInput, "id_number": forms.TextInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["relation"] = forms.ChoiceField(
            label=_("关系"), choices=dictionary_choices("relation", include_blank=False)
        )
        self.fields["relation"].widget.attrs["class"] = "form-select"


class AssetForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = CustomerAsset
        fields = ["kind", "description", "estimated_value", "encumbered"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"] = forms.ChoiceField(
            label=_("资产类型"), choices=dictionary_choices("asset_kind", include_blank=False)
        )
        self.fields["kind"].widget.attrs["class"] = "form-select"


class AttachmentForm(StyledFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("附件类型"))
    file = forms.FileField(label=_("文件"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = dictionary_choices("attachment_kind", include_blank=False)


class AssignForm(StyledFormMixin, forms.Form):
    """to_owner is a user id, or "pool" to return the customers to the pool (never the silent default)."""

    to_owner = forms.CharField(label=_("转给"), error_messages={"required": _("请选择转给谁（或退回公海）")})
    reason = forms.CharField(
        label=_("原因"), max_length=200, error_messages={"required": _("请填写转移原因")}
    )

    def __init__(self, *args, owners=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.owners = owners

    def clean_to_owner(self):
        value = self.cleaned_data["to_owner"]
        if value == "pool":
            return None
        owner = self.owners.filter(pk=int(value)).first() if value.isdigit() else None
        if owner is None:
            raise forms.ValidationError(_("只能转给自己范围内在职的业务员"))
        return owner
