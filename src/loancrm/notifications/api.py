import re

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError

from loancrm.accounts.access import record_denial
from loancrm.accounts.permissions import Perm

from . import selectors
from .models import Channel, Delivery, DeliveryStatus, Notification


class NotificationSerializer(serializers.ModelSerializer):
    rule = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "title", "body", "url", "rule", "created_at", "read_at", "is_read"]

    def get_is_read(self, obj) -> bool:
        return obj.read_at is not None


class DeliverySerializer(serializers.ModelSerializer):
    rule = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    recipient = serializers.CharField(source="recipient_display", read_only=True)  # masked, always
    body = serializers.CharField(source="body_display", read_only=True)  # link tokens cut

    class Meta:
        model = Delivery
        fields = [
            "id", "channel", "audience", "recipient", "customer", "user", "rule", "source", "subject", "body",
            "status", "attempts", "last_error", "not_before", "sent_at", "provider_id", "created_at",
        ]  # fmt: skip


# The filters' allowed values, shared by the schema and the check, so the two cannot disagree.
DELIVERY_CHANNELS = [c for c in Channel.values if c != Channel.INAPP]  # in-app messages are no deliveries
RULE_PATTERN = "^[-a-zA-Z0-9_]+$"


def _q(name: str, kind=OpenApiTypes.STR, **kw) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=False, **kw)


@extend_schema_view(get=extend_schema(parameters=[_q("unread", OpenApiTypes.BOOL)]))
class NotificationList(generics.ListAPIView):
    """The requesting user's own in-app notifications, newest first (`unread=true` for unread only)."""

    serializer_class = NotificationSerializer
    filter_backends: list = []

    def get_queryset(self):
        qs = selectors.notifications_for(self.request.user).select_related("rule")
        unread = self.request.query_params.get("unread")
        if unread is not None:
            if unread not in ("true", "false", "1", "0"):
                raise ValidationError({"unread": [_("应为 true 或 false")]})
            if unread in ("true", "1"):
                qs = qs.filter(read_at__isnull=True)
        return qs


@extend_schema_view(
    get=extend_schema(
        parameters=[
            _q(
                "rule",
                {"type": "string", "minLength": 1, "pattern": RULE_PATTERN},
                description="rule code or id",
            ),
            _q("status", enum=DeliveryStatus.values),
            _q("channel", enum=DELIVERY_CHANNELS),
        ]
    )
)
class DeliveryList(generics.ListAPIView):
    """The delivery log (those who manage rules): every SMS, e-mail and WeCom message with its status,
    attempts and last error. Recipients are masked."""

    serializer_class = DeliverySerializer
    filter_backends: list = []

    def get_queryset(self):
        user = self.request.user
        if not user.has_perm_code(Perm.RULES_MANAGE):
            record_denial(user, Perm.RULES_MANAGE, path=self.request.path)
            raise PermissionDenied
        p = self.request.query_params
        errors = {}
        if "status" in p and p["status"] not in DeliveryStatus.values:
            errors["status"] = [_("不是可选的状态")]
        if "channel" in p and p["channel"] not in DELIVERY_CHANNELS:
            errors["channel"] = [_("不是可选的渠道")]
        if "rule" in p and not re.fullmatch(RULE_PATTERN, p["rule"]):
            errors["rule"] = [_("请填写规则代码或编号")]
        if errors:
            raise ValidationError(errors)
        filters = selectors.DeliveryFilters(
            rule=p.get("rule", ""), status=p.get("status", ""), channel=p.get("channel", "")
        )
        return selectors.deliveries_for_admin(user, filters)
