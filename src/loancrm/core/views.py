from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm

from . import selectors, services
from .forms import SystemSettingsForm
from .models import SETTINGS_SPEC, setting_value


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
def settings_home(request):
    return render(request, "core/settings.html")


@login_required
def system_settings(request):
    """设置 → 系统参数: only the values that changed are written (one audit entry each)."""
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    form = SystemSettingsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        changed = [key for key in SETTINGS_SPEC if form.cleaned_data[key] != setting_value(key)]
        try:
            with transaction.atomic():  # all or nothing (the permission was checked above)
                for key in changed:
                    services.system_setting_update(by=request.user, key=key, value=form.cleaned_data[key])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("已保存。") if changed else _("没有修改。"))
            return redirect("core:system_settings")
    return render(request, "core/system_settings.html", {"form": form})
