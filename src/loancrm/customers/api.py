from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError

from .models import Customer
from .selectors import SORTABLE, customer_get_for, customer_list


class CustomerSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    department = serializers.CharField(source="department.name", read_only=True)
    phone = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = ["id", "name", "phone", "owner", "department", "created_at", "updated_at"]

    def get_phone(self, obj) -> str:
        # Masked for everyone until the customer center brings the reveal action.
        return obj.masked_phone


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter(
                "search",
                {"type": "string", "pattern": "^[^\\u0000]*$"},
                OpenApiParameter.QUERY,
                required=False,
                description="姓名前缀、客户完整手机号",
            ),
            OpenApiParameter(
                "ordering", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False, enum=sorted(SORTABLE)
            ),
        ]
    )
)
class CustomerList(generics.ListAPIView):
    """Customers the caller may see. `?search=` takes a name prefix or a full phone number."""

    serializer_class = CustomerSerializer
    filter_backends: list = []

    def get_queryset(self):
        p = self.request.query_params
        ordering = p.get("ordering", "-id")
        if ordering not in SORTABLE:
            raise ValidationError({"ordering": [_("不支持的排序字段：%(value)s") % {"value": ordering}]})
        search = p.get("search", "")
        if "\x00" in search:
            raise ValidationError({"search": [_("搜索内容含有非法字符")]})
        return customer_list(self.request.user, search=search, ordering=ordering)


class CustomerDetail(generics.RetrieveAPIView):
    serializer_class = CustomerSerializer
    queryset = Customer.objects.none()

    def get_object(self):
        try:
            return customer_get_for(self.request.user, int(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None
