from django import forms


class StyledFormMixin:
    """Give every widget Bootstrap's class, and mark fields with errors, so templates stay plain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            w = field.widget
            if isinstance(w, (forms.CheckboxInput,)):
                css = "form-check-input"
            elif isinstance(w, forms.CheckboxSelectMultiple | forms.RadioSelect):
                css = ""
            elif isinstance(w, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if css:
                w.attrs["class"] = f"{w.attrs.get('class', '')} {css}".strip()
            if self.is_bound and name in self.errors:
                w.attrs["class"] += " is-invalid"
                w.attrs["aria-invalid"] = "true"
