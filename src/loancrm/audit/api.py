import ipaddress

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError

from loancrm.accounts.access import record_denial
from loancrm.accounts.permissions import Perm

from .forms import AuditFilterForm
from .labels import object_type_choices
from .models import Action, AuditEntry
from .selectors import audit_entries_filtered


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", read_only=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "ip",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "extra",
        ]


# No NUL characters: Django forms refuse them and PostgreSQL cannot store them.
_NONEMPTY = {"type": "string", "minLength": 1, "pattern": "^[^\\u0000]+$"}


def _q(name: str, kind=OpenApiTypes.STR, **kw) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=False, **kw)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            _q("actor", _NONEMPTY, description="username"),
            _q("action", enum=[a.value for a in Action]),
            _q("object_type", enum=[code for code, _label in object_type_choices()]),
            _q("object_id", _NONEMPTY),
            _q("ip", {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
            _q("date_from", OpenApiTypes.DATE),
            _q("date_to", OpenApiTypes.DATE),
        ]
    )
)
class AuditEntryList(generics.ListAPIView):
    """Audit log (admin and auditor). Filters: actor, action, object_type, object_id, ip, date_from, date_to."""

    serializer_class = AuditEntrySerializer
    filter_backends: list = []

    def get_queryset(self):
        user = self.request.user
        if not user.has_perm_code(Perm.AUDIT_VIEW):
            record_denial(user, Perm.AUDIT_VIEW, path=self.request.path)
            raise PermissionDenied
        params = self.request.query_params
        # The API is strict: a filter given empty is a mistake (the web form, by contrast, sends blanks).
        empty = {k: [_("不能为空")] for k in AuditFilterForm.base_fields if k in params and params[k] == ""}
        if "ip" in params and not empty:
            try:
                ipaddress.ip_address(params["ip"])  # exactly an address: no spaces, no host names
            except ValueError:
                empty["ip"] = [_("请输入有效的 IPv4 或 IPv6 地址")]
        if empty:
            raise ValidationError(empty)
        form = AuditFilterForm(params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return audit_entries_filtered(user, **{k: v for k, v in form.cleaned_data.items() if v})
