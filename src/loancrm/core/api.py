from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler


def raise_400(exc) -> None:
    """A service's Django ValidationError as the API's 400: {field: [Chinese message]}."""
    if hasattr(exc, "message_dict"):
        raise ValidationError({k: [str(m) for m in v] for k, v in exc.message_dict.items()})
    raise ValidationError({"non_field_errors": [str(m) for m in exc.messages]})


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # A wrong page_size is an error the caller should see, not something to ignore silently.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise ValidationError(
                {"page_size": [_("每页条数须为 1 到 %(max)s 的整数") % {"max": self.max_page_size}]}
            )
        return super().get_page_size(request)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
            raise ValidationError({"page": [_("页码须为正整数")]})
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.page_size_query_param:
                p["schema"].update({"minimum": 1, "maximum": self.max_page_size})
            if p["name"] == self.page_query_param:
                p["schema"].update({"minimum": 1})
        return params


def exception_handler(exc, context):
    """DRF's handler, with the generic English messages said in the user's language."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        code = getattr(response.data["detail"], "code", None)
        messages = {
            "not_authenticated": _("未登录或令牌无效，请先获取令牌。"),
            "authentication_failed": _("令牌无效或已失效。"),
            "not_found": _("记录不存在或无权查看。"),
            "permission_denied": _("没有执行此操作的权限。"),
        }
        if code in messages:
            response.data["detail"] = messages[code]
    return response
