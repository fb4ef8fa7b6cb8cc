from django.utils.translation import gettext as _
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 200


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
