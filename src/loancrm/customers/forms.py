from django import forms
from django.utils.translation import gettext_lazy as _

from loancrm.core.forms import StyledFormMixin

from .models import Customer


class CustomerForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["name", "phone", "current_address"]

    def __init__(self, *args, can_reveal: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.keeps_phone = bool(self.instance.pk and self.instance.phone and not can_reveal)
        if self.keeps_phone:
            # Never put the full number in the page for a role that may not see it.
            self.initial["phone"] = ""
            self.fields["phone"].widget.attrs["placeholder"] = self.instance.masked_phone
            self.fields["phone"].help_text = _("留空则不修改")

    def clean_phone(self):
        phone = self.cleaned_data.get("phone", "")
        if not phone and self.keeps_phone:
            return self.instance.phone
        return phone
