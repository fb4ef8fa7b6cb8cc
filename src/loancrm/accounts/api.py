from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(label=_("用户名"))
    password = serializers.CharField(label=_("密码"), style={"input_type": "password"}, trim_whitespace=False)


class ObtainToken(APIView):
    """Exchange a username and password for an API token (same lock rules as the web log-in)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
            400: inline_serializer("TokenError", {"non_field_errors": serializers.ListField()}),
        },
        auth=[],
    )
    def post(self, request):
        ser = TokenRequestSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = authenticate(
            request=request._request,
            username=ser.validated_data["username"],
            password=ser.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response(
                {"non_field_errors": [_("用户名或密码错误。")]}, status=status.HTTP_400_BAD_REQUEST
            )
        token, created = Token.objects.get_or_create(user=user)
        if created:
            audit_record(action=Action.TOKEN_CREATE, actor=user, obj=user)
        return Response({"token": token.key})


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()
    role = serializers.CharField(source="role.code", allow_null=True, default=None)
    role_name = serializers.CharField(source="role.name", allow_null=True, default=None)
    department = serializers.CharField(source="department.name", allow_null=True, default=None)
    data_scope = serializers.CharField(allow_null=True)
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, user) -> list[str]:
        from .permissions import Perm

        return [str(p) for p in Perm if user.has_perm_code(p)]


class Me(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
