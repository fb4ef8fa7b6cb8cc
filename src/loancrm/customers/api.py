from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from loancrm.accounts.access import record_denial
from loancrm.accounts.permissions import Perm
from loancrm.core.api import raise_400

from . import services
from .models import Customer, CustomerType, DataSource, Gender, IdType
from .selectors import SORTABLE, CustomerFilters, customer_get_for, customer_list

WRITABLE = [
    "customer_type",
    "name",
    "id_type",
    "id_number",
    "gender",
    "birth_date",
    "phone",
    "stage",
    "channel",
    "monthly_income",
    "expected_amount",
    "expected_term_months",
]


class CustomerSerializer(serializers.ModelSerializer):
    """Sensitive values are always masked here; POST /customers/{id}/reveal/ answers them to allowed roles."""

    customer_no = serializers.CharField(read_only=True)
    customer_type = serializers.ChoiceField(choices=CustomerType.choices, default=CustomerType.INDIVIDUAL)
    name = serializers.CharField(max_length=100)
    id_type = serializers.ChoiceField(choices=IdType.choices, required=False, allow_blank=True)
    id_number = serializers.CharField(required=False, allow_blank=True, max_length=40)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    stage = serializers.CharField(required=False, allow_blank=True, max_length=40)
    channel = serializers.CharField(required=False, allow_blank=True, max_length=40)
    # Amounts go through the same cleaning as the web form and imports: 50000, "50,000元", "5万" all work.
    monthly_income = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=30)
    expected_amount = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=30)
    expected_term_months = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=360
    )
    age = serializers.IntegerField(read_only=True, allow_null=True)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    department = serializers.CharField(source="department.name", read_only=True)
    version = serializers.IntegerField(
        required=False, help_text="Send the version you read to refuse a stale update."
    )

    class Meta:
        model = Customer
        fields = [
            "id",
            "customer_no",
            *WRITABLE,
            "age",
            "owner",
            "department",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["id_number"] = instance.masked_id_number
        data["phone"] = instance.masked_phone
        return data


def _q(name: str, kind=OpenApiTypes.STR, **kw) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=False, **kw)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            _q(
                "search",
                {"type": "string", "pattern": "^[^\\u0000]*$"},
                description="姓名前缀、客户编号、完整手机号或证件号",
            ),
            _q("ordering", enum=sorted(SORTABLE)),
            _q("stage", {"type": "string", "pattern": "^[^\\u0000]*$"}),
            _q("channel", {"type": "string", "pattern": "^[^\\u0000]*$"}),
            _q("customer_type", enum=CustomerType.values),
        ]
    )
)
class CustomerList(generics.ListCreateAPIView):
    """Customers the caller may see; POST creates one through the same validation and 撞单 check as the web."""

    serializer_class = CustomerSerializer
    filter_backends: list = []

    def get_queryset(self):
        p = self.request.query_params
        ordering = p.get("ordering", "-id")
        if ordering not in SORTABLE:
            raise ValidationError({"ordering": [_("不支持的排序字段：%(value)s") % {"value": ordering}]})
        for key in ("search", "stage", "channel"):
            if "\x00" in p.get(key, ""):
                raise ValidationError({key: [_("含有非法字符")]})
        ctype = p.get("customer_type", "")
        if "customer_type" in p and ctype not in CustomerType.values:
            raise ValidationError({"customer_type": [_("客户类型只能是 individual 或 enterprise")]})
        filters = CustomerFilters(
            search=p.get("search", ""),
            stage=p.get("stage", ""),
            channel=p.get("channel", ""),
            customer_type=ctype,
            ordering=ordering,
        )
        return customer_list(self.request.user, filters)

    def create(self, request, *args, **kwargs):
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = {k: v for k, v in ser.validated_data.items() if k in WRITABLE}
        if not request.user.has_perm_code(Perm.CUSTOMER_CREATE):
            record_denial(request.user, Perm.CUSTOMER_CREATE, path=request.path)
            raise PermissionDenied
        try:
            customer = services.customer_create(by=request.user, data=data, source=DataSource.API)
        except DjangoValidationError as exc:
            raise_400(exc)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetail(generics.RetrieveUpdateAPIView):
    serializer_class = CustomerSerializer
    queryset = Customer.objects.none()

    def get_object(self):
        try:
            return customer_get_for(self.request.user, int(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None

    def update(self, request, *args, **kwargs):
        customer = self.get_object()
        ser = self.get_serializer(customer, data=request.data, partial=kwargs.get("partial", False))
        ser.is_valid(raise_exception=True)
        data = {k: v for k, v in ser.validated_data.items() if k in WRITABLE}
        if not request.user.has_perm_code(Perm.CUSTOMER_EDIT):
            record_denial(request.user, Perm.CUSTOMER_EDIT, path=request.path)
            raise PermissionDenied
        try:
            customer = services.customer_update(
                by=request.user,
                customer=customer,
                data=data,
                expected_version=ser.validated_data.get("version"),
            )
        except services.StaleEdit as exc:
            return Response({"version": [str(m) for m in exc.messages]}, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as exc:
            raise_400(exc)
        return Response(CustomerSerializer(customer).data)


class CustomerReveal(APIView):
    """The unmasked ID number, phones and bank account — for admin, managers in scope and risk officers. Audited."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "RevealedCustomer",
                {
                    "id_number": serializers.CharField(),
                    "phone": serializers.CharField(),
                    "backup_phone": serializers.CharField(),
                    "bank_account": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request, pk: int):
        customer = customer_get_for(request.user, pk)
        if not request.user.has_perm_code(Perm.CUSTOMER_REVEAL):
            record_denial(request.user, Perm.CUSTOMER_REVEAL, path=request.path)
            raise PermissionDenied
        return Response(services.customer_reveal(by=request.user, customer=customer))
