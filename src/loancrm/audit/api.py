from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied

from loancrm.accounts.access import record_denial
from loancrm.accounts.permissions import Perm

from .forms import AuditFilterForm
from .models import AuditEntry
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


class AuditEntryList(generics.ListAPIView):
    """Audit log (admin and auditor). Filters: actor, action, object_type, object_id, ip, date_from, date_to."""

    serializer_class = AuditEntrySerializer
    filter_backends: list = []

    def get_queryset(self):
        user = self.request.user
        if not user.has_perm_code(Perm.AUDIT_VIEW):
            record_denial(user, Perm.AUDIT_VIEW, path=self.request.path)
            raise PermissionDenied
        form = AuditFilterForm(self.request.query_params or None)
        filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
        return audit_entries_filtered(user, **filters)
