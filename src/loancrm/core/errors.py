from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": _("没有执行此操作的权限。")}, status=403)
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": _("记录不存在或无权查看。")}, status=404)
    return render(request, "404.html", status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": _("服务器内部错误，已记录，请稍后重试。")}, status=500)
    return render(request, "500.html", status=500)
