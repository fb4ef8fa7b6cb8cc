from django import forms

from loancrm.core.forms import StyledFormMixin

from .models import Customer


class CustomerForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["name", "phone", "current_address"]
