from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loancrm.audit.models import Action
from loancrm.audit.services import audit_record
from loancrm.core.fields import TextField


class TokenRequestSerializer(serializers.Serializer):
    username = TextField(label=_("用户名"))
    password = TextField(label=_("密码"), style={"input_type": "password"}, trim_whitespace=False)


class ObtainToken(APIView):
    """Exchange a username and password for an API token (same lock rules as the web log-in)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer("TokenResponse", {"token": serializers.CharField()}),
            401: inline_serializer("BadCredentials", {"detail": serializers.CharField()}),
            403: inline_serializer("AccountLocked", {"detail": serializers.CharField()}),
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
            # Wrong credentials are an authentication failure (401); a malformed request is a 400.
            return Response(
                {"detail": _("用户名或密码错误。")},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        # Tokens are a log-in too: same signal, so it is audited and last_login moves.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
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
