from django import forms
from django.utils.translation import gettext as _


class StyledFormMixin:
    """Give every widget Bootstrap's class, and mark fields with errors, so templates stay plain."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # Chinese labels take no trailing colon here
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            w = field.widget
            if isinstance(w, (forms.CheckboxInput,)):
                css = "form-check-input"
            elif isinstance(w, forms.CheckboxSelectMultiple | forms.RadioSelect):
                css = ""
            elif isinstance(w, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if css and getattr(self, "compact", False):
                css += f" {css}-sm"
            if css:
                w.attrs["class"] = f"{w.attrs.get('class', '')} {css}".strip()

    def full_clean(self):
        # Mark fields with errors only after validation (reading self.errors in __init__ would
        # validate too early, before subclasses finish setting up their fields).
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                w = self.fields[name].widget
                w.attrs["class"] = f"{w.attrs.get('class', '')} is-invalid".strip()
                w.attrs["aria-invalid"] = "true"


class SystemSettingsForm(StyledFormMixin, forms.Form):
    """One whole-number field per entry of SETTINGS_SPEC, filled with the current values."""

    def __init__(self, *args, **kwargs):
        from .models import SETTINGS_SPEC, setting_value
        from .services import SETTING_MAX, SETTING_MIN  # here, not at the top: services import accounts

        super().__init__(*args, **kwargs)
        for key, (label, default, help_text) in SETTINGS_SPEC.items():
            self.fields[key] = forms.IntegerField(
                label=label,
                help_text=_("%(help)s默认值：%(default)s。") % {"help": help_text, "default": default},
                min_value=SETTING_MIN,
                max_value=SETTING_MAX,
                initial=setting_value(key),
                error_messages={
                    "required": _("请填写此项"),
                    "invalid": _("请输入整数"),
                    "min_value": _("不能小于 %(limit_value)s"),
                    "max_value": _("不能大于 %(limit_value)s"),
                },
                # Added after StyledFormMixin ran, so the Bootstrap class is set here.
                widget=forms.NumberInput(attrs={"class": "form-control", "style": "max-width:12rem"}),
            )
