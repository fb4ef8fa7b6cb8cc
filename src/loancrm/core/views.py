from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from loancrm.accounts.access import require_perm

from . import selectors
from .navigation import SECTIONS_BY_KEY


@require_GET
@never_cache
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # the point is to report any database failure, whatever its type
        return JsonResponse({"status": "error", "database": str(exc)[:200]}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "vendor": connection.vendor})


@login_required
def workbench(request):
    return render(request, "core/workbench.html", {"stats": selectors.workbench_stats(request.user)})


@login_required
def section(request, key: str):
    s = SECTIONS_BY_KEY.get(key)
    if s is None or not s.coming:
        raise Http404
    if s.perm is not None:
        require_perm(request.user, s.perm, path=request.path)
    return render(request, "core/coming.html", {"section": s})


@login_required
def settings_home(request):
    return render(request, "core/settings.html")
