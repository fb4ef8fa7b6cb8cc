"""REST API for loans: list, detail with the schedule and payments, and recording a payment."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from loancrm.core.api import raise_400

from . import selectors, services
from .models import Loan, LoanStatus, Repayment


class InstallmentSerializer(serializers.Serializer):
    period = serializers.IntegerField()
    due_date = serializers.DateField()
    principal = serializers.DecimalField(source="principal_due", max_digits=14, decimal_places=2)
    interest = serializers.DecimalField(source="interest_due", max_digits=14, decimal_places=2)
    payment = serializers.DecimalField(source="payment_due", max_digits=14, decimal_places=2)
    balance = serializers.DecimalField(source="balance_after", max_digits=14, decimal_places=2)
    principal_paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    interest_paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    penalty = serializers.DecimalField(source="penalty_accrued", max_digits=14, decimal_places=2)
    penalty_paid = serializers.DecimalField(max_digits=14, decimal_places=2)
    status = serializers.CharField()
    is_prepayment = serializers.BooleanField()


class AllocationSerializer(serializers.Serializer):
    period = serializers.IntegerField(source="installment.period")
    component = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class RepaymentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid_on = serializers.DateField()
    note = serializers.CharField()
    allocations = AllocationSerializer(many=True)


class LoanSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    product = serializers.CharField(source="product.code", read_only=True)
    institution = serializers.CharField(source="institution.name", read_only=True)
    application = serializers.CharField(
        source="application.application_no", read_only=True, allow_null=True, default=None
    )
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Loan
        fields = [
            "id", "loan_no", "application", "customer", "customer_name", "product", "institution", "contract_no",
            "principal", "annual_rate", "months", "method", "disbursed_on", "first_due_on", "status",
            "days_past_due", "bucket", "overdue_amount", "outstanding_principal", "service_fee",
            "service_fee_received", "owner",
        ]  # fmt: skip
        read_only_fields = fields


class LoanDetailSerializer(LoanSerializer):
    schedule = serializers.SerializerMethodField()
    payments = serializers.SerializerMethodField()

    class Meta(LoanSerializer.Meta):
        fields = [*LoanSerializer.Meta.fields, "schedule", "payments"]
        read_only_fields = fields

    @extend_schema_field(InstallmentSerializer(many=True))
    def get_schedule(self, obj) -> list[dict]:
        return InstallmentSerializer(selectors.loan_schedule(obj), many=True).data

    @extend_schema_field(RepaymentSerializer(many=True))
    def get_payments(self, obj) -> list[dict]:
        return RepaymentSerializer(selectors.loan_repayments(obj), many=True).data


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", str, OpenApiParameter.QUERY, required=False, enum=LoanStatus.values),
            OpenApiParameter(
                "bucket",
                {"type": "string", "pattern": "^[A-Za-z0-9+]{0,10}$"},
                OpenApiParameter.QUERY,
                required=False,
            ),
        ]
    )
)
class LoanList(generics.ListAPIView):
    """Loans the caller may see (scope as for customers)."""

    serializer_class = LoanSerializer

    def get_queryset(self):
        p = self.request.query_params
        if "status" in p and p["status"] not in LoanStatus.values:
            raise ValidationError(
                {"status": [_("状态只能是 %(list)s") % {"list": ", ".join(LoanStatus.values)}]}
            )
        bucket = p.get("bucket", "")
        if len(bucket) > 10 or not all(c.isascii() and (c.isalnum() or c == "+") for c in bucket):
            raise ValidationError({"bucket": [_("账龄代码如 M0、M1、M2、M3+")]})
        return selectors.loan_list(
            self.request.user, selectors.LoanFilters(status=p.get("status", ""), bucket=bucket)
        )


class LoanDetail(generics.RetrieveAPIView):
    """One loan with its schedule (还款计划) and payments with their allocation."""

    serializer_class = LoanDetailSerializer
    queryset = Loan.objects.none()

    def get_object(self):
        return selectors.loan_get_for(self.request.user, int(self.kwargs["pk"]))


class RepaymentCreateSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=30, help_text="Yuan: 3000, 3,000元 or 0.3万.")
    paid_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=Repayment.Kind.values, default=Repayment.Kind.REGULAR)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LoanRepayments(APIView):
    @extend_schema(request=RepaymentCreateSerializer, responses={201: LoanDetailSerializer})
    def post(self, request, pk: int):
        loan = selectors.loan_get_for(request.user, pk)
        ser = RepaymentCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        try:
            services.repayment_record(
                by=request.user,
                loan=loan,
                amount=d["amount"],
                paid_on=d["paid_on"],
                kind=d["kind"],
                note=d["note"],
            )
        except DjangoPermissionDenied:
            raise PermissionDenied from None
        except DjangoValidationError as exc:
            raise_400(exc)
        return Response(
            LoanDetailSerializer(selectors.loan_get_for(request.user, pk)).data,
            status=status.HTTP_201_CREATED,
        )
