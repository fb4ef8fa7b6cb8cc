from django import forms


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
