from django.http import Http404
from rest_framework import generics, serializers

from .models import Customer
from .selectors import customer_get_for, customer_list


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


class CustomerList(generics.ListAPIView):
    """Customers the caller may see. `?search=` takes a name prefix or a full phone number."""

    serializer_class = CustomerSerializer
    filter_backends: list = []

    def get_queryset(self):
        p = self.request.query_params
        return customer_list(self.request.user, search=p.get("search", ""), ordering=p.get("ordering", "-id"))


class CustomerDetail(generics.RetrieveAPIView):
    serializer_class = CustomerSerializer
    queryset = Customer.objects.none()

    def get_object(self):
        try:
            return customer_get_for(self.request.user, int(self.kwargs["pk"]))
        except ValueError:
            raise Http404 from None
