"""REST API for products, applications and their workflow actions (under /api/v1/)."""

import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from loancrm.accounts.access import record_denial
from loancrm.accounts.models import User
from loancrm.accounts.permissions import Perm
from loancrm.core.api import raise_400
from loancrm.customers.selectors import customer_get_for

from . import selectors, services
from .models import (
    ApplicationStatus,
    CreditGrade,
    LoanApplication,
    MaterialKind,
    MaterialRequirement,
    Product,
)

NODE_CODE = re.compile(r"[a-z_]*")
ID = re.compile(r"[0-9]{1,18}")


def _by_id_or(model, key: str, **lookup):
    """The row whose id is `key` (ASCII digits only: "²".isdigit() is true), else the one matching `lookup`."""
    found = model.objects.filter(pk=int(key)).first() if ID.fullmatch(key) else None
    return found or model.objects.filter(**lookup).first()


class RequirementSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = MaterialRequirement
        fields = ["customer_type", "kind", "kind_label", "required", "note"]


class ProductSerializer(serializers.ModelSerializer):
    requirements = RequirementSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "code",
            "name",
            "business_line",
            "loan_kind",
            "min_amount",
            "max_amount",
            "min_term_months",
            "max_term_months",
            "annual_rate_min",
            "annual_rate_max",
            "description",
            "requirements",
        ]


class ProductList(generics.ListAPIView):
    """Active products with their material checklists per customer type."""

    serializer_class = ProductSerializer
    pagination_class = None

    def get_queryset(self):
        if not self.request.user.has_perm_code(Perm.INTAKE_VIEW):
            record_denial(self.request.user, Perm.INTAKE_VIEW, path=self.request.path)
            raise PermissionDenied
        return selectors.products_active()


class TransitionSerializer(serializers.Serializer):
    action = serializers.CharField()
    from_node = serializers.CharField()
    to_node = serializers.CharField()
    by = serializers.CharField(source="by.username", allow_null=True, default=None)
    to_user = serializers.CharField(source="to_user.username", allow_null=True, default=None)
    at = serializers.DateTimeField()
    comment = serializers.CharField()
    seconds_in_node = serializers.IntegerField(allow_null=True)
    skipped = serializers.ListField(child=serializers.CharField())


class ApplicationSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    product = serializers.CharField(source="product.code", read_only=True)
    node = serializers.CharField(source="node.code", read_only=True, allow_null=True, default=None)
    node_name = serializers.SerializerMethodField()
    handler = serializers.CharField(source="handler.username", read_only=True, allow_null=True, default=None)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    workflow_version = serializers.IntegerField(source="workflow.version", read_only=True)
    overdue = serializers.BooleanField(read_only=True)
    credit_grade = serializers.CharField(
        read_only=True, help_text="good / normal / poor, or empty until pre-check."
    )

    class Meta:
        model = LoanApplication
        fields = [
            "id",
            "application_no",
            "customer",
            "customer_name",
            "product",
            "customer_type",
            "business_line",
            "region",
            "amount",
            "term_months",
            "purpose",
            "credit_grade",
            "status",
            "node",
            "node_name",
            "handler",
            "owner",
            "sla_due_at",
            "overdue",
            "workflow_version",
            "approved_amount",
            "approved_term_months",
            "approved_rate",
            "created_at",
        ]
        read_only_fields = fields

    def get_node_name(self, obj) -> str | None:
        return str(obj.node) if obj.node_id else None


class ApplicationDetailSerializer(ApplicationSerializer):
    handlers = serializers.SerializerMethodField()
    route = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()
    missing_materials = serializers.SerializerMethodField()
    node_seconds = serializers.SerializerMethodField()

    class Meta(ApplicationSerializer.Meta):
        fields = [
            *ApplicationSerializer.Meta.fields,
            "handlers",
            "route",
            "history",
            "missing_materials",
            "node_seconds",
        ]
        read_only_fields = fields

    def get_handlers(self, obj) -> list[str]:
        return [t.assignee.username for t in selectors.application_tasks(obj) if t.status == "open"]

    def get_route(self, obj) -> list[str]:
        return selectors.application_route(obj)

    @extend_schema_field(TransitionSerializer(many=True))
    def get_history(self, obj) -> list[dict]:
        return TransitionSerializer(selectors.application_history(obj), many=True).data

    def get_missing_materials(self, obj) -> list[str]:
        return [r.kind for r in services.missing_materials(obj)]

    def get_node_seconds(self, obj) -> dict[str, int]:
        return selectors.node_seconds(obj)


class ApplicationCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    product = serializers.CharField(max_length=40, help_text="Product id or code.")
    amount = serializers.CharField(max_length=30, help_text="Yuan: 50000, 50,000元 or 5万.")
    term_months = serializers.IntegerField(min_value=1, max_value=360)
    credit_grade = serializers.ChoiceField(choices=CreditGrade.values, required=False, allow_blank=True)
    purpose = serializers.CharField(max_length=200, required=False, allow_blank=True)
    owner = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        help_text="Salesperson's username; empty: assign by rule.",
    )


def _q(name: str, kind=OpenApiTypes.STR, **kw) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, required=False, **kw)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            _q("status", enum=ApplicationStatus.values),
            _q("node", {"type": "string", "pattern": "^[a-z_]*$"}),
            _q(
                "search", {"type": "string", "pattern": "^[^\\u0000]*$"}, description="申请编号或客户姓名前缀"
            ),
            _q("mine", enum=["1"], description="只看待我处理的"),
        ]
    ),
    post=extend_schema(request=ApplicationCreateSerializer, responses={201: ApplicationDetailSerializer}),
)
class ApplicationList(generics.ListCreateAPIView):
    serializer_class = ApplicationSerializer

    def get_queryset(self):
        p = self.request.query_params
        if "status" in p and p["status"] not in ApplicationStatus.values:
            raise ValidationError(
                {"status": [_("状态只能是 %(list)s") % {"list": ", ".join(ApplicationStatus.values)}]}
            )
        node = p.get("node", "")
        if not NODE_CODE.fullmatch(node):
            # The schema's pattern: "节点".isalpha() is true, and "_" is a valid (if unknown) code.
            raise ValidationError({"node": [_("节点代码只能含小写字母和下划线")]})
        if "\x00" in p.get("search", ""):
            raise ValidationError({"search": [_("含有非法字符")]})
        if "mine" in p and p["mine"] != "1":
            raise ValidationError({"mine": [_("mine 只能是 1")]})
        filters = selectors.ApplicationFilters(
            search=p.get("search", ""), status=p.get("status", ""), node=node, mine=p.get("mine") == "1"
        )
        return selectors.application_list(self.request.user, filters)

    def create(self, request, *args, **kwargs):
        ser = ApplicationCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        if not request.user.has_perm_code(Perm.INTAKE_CREATE):
            record_denial(request.user, Perm.INTAKE_CREATE, path=request.path)
            raise PermissionDenied
        try:
            customer = customer_get_for(request.user, d["customer"])
        except Http404:
            raise ValidationError({"customer": [_("客户不存在或不在您的权限范围内")]}) from None
        key = d["product"]
        product = _by_id_or(Product, key, code=key)
        if product is None:
            raise ValidationError({"product": [_("产品不存在：%(p)s") % {"p": key}]})
        owner = None
        if d.get("owner"):
            owner = User.objects.filter(username=d["owner"]).first()
            if owner is None:
                raise ValidationError({"owner": [_("用户不存在：%(u)s") % {"u": d["owner"]}]})
        try:
            application = services.application_create(
                by=request.user,
                customer=customer,
                product=product,
                amount=d["amount"],
                term_months=d["term_months"],
                purpose=d.get("purpose", ""),
                credit_grade=d.get("credit_grade", ""),
                owner=owner,
            )
        except DjangoPermissionDenied:
            raise PermissionDenied from None
        except DjangoValidationError as exc:
            raise_400(exc)
        application = selectors.application_get_for(request.user, application.pk)
        return Response(ApplicationDetailSerializer(application).data, status=status.HTTP_201_CREATED)


class ApplicationDetail(generics.RetrieveAPIView):
    serializer_class = ApplicationDetailSerializer
    queryset = LoanApplication.objects.none()

    def get_object(self):
        return selectors.application_get_for(self.request.user, int(self.kwargs["pk"]))


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=services.Actions.ALL)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    to_node = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    to_user = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    credit_grade = serializers.ChoiceField(choices=CreditGrade.values, required=False, allow_blank=True)
    approved_amount = serializers.CharField(max_length=30, required=False, allow_blank=True)
    approved_term_months = serializers.IntegerField(min_value=1, max_value=360, required=False)
    approved_rate = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=36, required=False
    )
    checks = serializers.DictField(
        child=serializers.BooleanField(), required=False, help_text="复审 checklist: {item text: true}"
    )


class ApplicationAction(APIView):
    """One workflow action on the current node; 403 (and nothing changes) unless the caller handles it."""

    @extend_schema(request=ActionSerializer, responses={200: ApplicationDetailSerializer})
    def post(self, request, pk: int):
        application = selectors.application_get_for(request.user, pk)
        ser = ActionSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        to_user = None
        if d.get("to_user"):
            key = d["to_user"]
            to_user = _by_id_or(User, key, username=key)
            if to_user is None:
                raise ValidationError({"to_user": [_("用户不存在：%(u)s") % {"u": key}]})
        data = {
            k: d[k]
            for k in ("credit_grade", "approved_amount", "approved_term_months", "approved_rate")
            if k in d
        }
        try:
            services.application_act(
                by=request.user,
                application=application,
                action=d["action"],
                comment=d.get("comment", ""),
                to_node=d.get("to_node", ""),
                to_user=to_user,
                data=data,
                checks=d.get("checks") or {},
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc) or None) from None
        except DjangoValidationError as exc:
            raise_400(exc)
        application = selectors.application_get_for(request.user, pk)
        return Response(ApplicationDetailSerializer(application).data)


class MaterialUploadSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MaterialKind.values)
    file = serializers.FileField()


class MaterialSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    file = serializers.CharField(source="attachment.original_name")
    size = serializers.IntegerField(source="attachment.size")
    review = serializers.CharField()
    ocr = serializers.JSONField()

    def to_representation(self, instance):
        from loancrm.customers.selectors import can_reveal

        data = super().to_representation(instance)
        request = self.context.get("request")
        reveal = bool(request and can_reveal(request.user))
        ocr = data.get("ocr") or {}
        if not reveal and ocr.get("fields"):
            # As on the customer page: ID and card numbers masked unless the role may reveal them.
            ocr = {**ocr, "lines": [], "fields": [
                {**f, "value": services.ocr_display_value(f["key"], f["value"], reveal=False)} for f in ocr["fields"]
            ]}  # fmt: skip
            data["ocr"] = ocr
        return data


class ApplicationMaterials(APIView):
    """Upload a material (JPG/PNG/PDF…) to the application; ID card, bank card and licence photos are
    read by OCR, and the result waits for a person to confirm it on the application page."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": MaterialUploadSerializer}, responses={201: MaterialSerializer}
    )
    def post(self, request, pk: int):
        application = selectors.application_get_for(request.user, pk)
        ser = MaterialUploadSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        try:
            material = services.material_upload(
                by=request.user,
                application=application,
                kind=ser.validated_data["kind"],
                upload=ser.validated_data["file"],
            )
        except DjangoPermissionDenied:
            raise PermissionDenied from None
        except DjangoValidationError as exc:
            raise_400(exc)
        # OCR runs in the worker: `ocr` is {"status": "pending"} until GET shows the result.
        return Response(
            MaterialSerializer(material, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(responses={200: MaterialSerializer(many=True)})
    def get(self, request, pk: int):
        application = selectors.application_get_for(request.user, pk)
        return Response(
            MaterialSerializer(
                selectors.application_materials(application), many=True, context={"request": request}
            ).data
        )
