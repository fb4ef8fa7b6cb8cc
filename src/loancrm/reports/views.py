import json
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm

from . import selectors, services
from .panels import PANELS, ReportFilters
from .workbook import panels_workbook


def _filters(request) -> ReportFilters:
    return ReportFilters.from_params(request.GET)


@login_required
def dashboard(request):
    require_perm(request.user, Perm.REPORTS_VIEW, path=request.path)
    f = _filters(request)
    return render(
        request,
        "reports/dashboard.html",
        {
            "f": f,
            "query": "&".join(f"{k}={v}" for k, v in f.as_params().items()),
            "panels": [(key, fn.__doc__) for key, fn in PANELS.items()],
            "choices": selectors.filter_choices(request.user),
            "saved": selectors.saved_reports_for(request.user),
            "freshness": selectors.freshness(),
            "shortcuts": _shortcuts(),
        },
    )


def _shortcuts() -> dict[str, str]:
    from datetime import timedelta

    today = timezone.localdate()
    last_to = today.replace(day=1) - timedelta(days=1)
    return {
        "today": today.isoformat(),
        "month_from": today.replace(day=1).isoformat(),
        "last_from": last_to.replace(day=1).isoformat(),
        "last_to": last_to.isoformat(),
        "year_from": today.replace(month=1, day=1).isoformat(),
    }


@login_required
def panel(request, key: str):
    require_perm(request.user, Perm.REPORTS_VIEW, path=request.path)
    fn = PANELS.get(key)
    if fn is None:
        raise Http404
    p = fn(request.user, _filters(request))
    fresh = selectors.freshness().get("daily")
    if fresh is not None:  # the panel says how fresh its pre-aggregated numbers are
        p.notes.append(
            _("统计截至 %(t)s") % {"t": timezone.localtime(fresh.refreshed_at).strftime("%Y-%m-%d %H:%M")}
        )
    return render(
        request,
        "reports/_panel.html",
        {
            "p": p,
            "key": key,
            "chart_json": json.dumps(p.chart or {}, ensure_ascii=False, default=str),
            "links_json": json.dumps(p.links),
        },
    )


@login_required
def export_xlsx(request, key: str = ""):
    require_perm(request.user, Perm.REPORTS_VIEW, path=request.path)
    f = _filters(request)
    keys = [key] if key else list(PANELS)
    if any(k not in PANELS for k in keys):
        raise Http404
    panels = [PANELS[k](request.user, f) for k in keys]
    services.report_export_record(by=request.user, panels=keys, filters=f.as_params(), fmt="xlsx")
    response = HttpResponse(
        panels_workbook(panels, f),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"report-{key or 'dashboard'}-{f.date_from:%Y%m%d}-{f.date_to:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def export_pdf(request):
    require_perm(request.user, Perm.REPORTS_VIEW, path=request.path)
    from weasyprint import HTML

    f = _filters(request)
    panels = [fn(request.user, f) for fn in PANELS.values()]
    services.report_export_record(by=request.user, panels=list(PANELS), filters=f.as_params(), fmt="pdf")
    html = render_to_string(
        "reports/pdf.html",
        {
            "panels": panels,
            "f": f,
            "now": timezone.now(),
            "user": request.user,
            "freshness": selectors.freshness(),
        },
    )
    pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="dashboard-{f.date_from:%Y%m%d}-{f.date_to:%Y%m%d}.pdf"'
    )
    return response


@login_required
@require_POST
def report_save(request):
    require_perm(request.user, Perm.REPORTS_VIEW, path=request.path)
    f = ReportFilters.from_params(request.POST)
    try:
        report = services.saved_report_save(
            by=request.user, name=request.POST.get("name", ""), filters=f.as_params()
        )
    except ValidationError as e:
        messages.error(request, "；".join(e.messages))
    else:
        messages.success(request, _("已保存报表“%(n)s”，可在“规则”里设置定时发送") % {"n": report.name})
    return redirect(
        f"{request.path.rsplit('/save/', 1)[0]}/?{'&'.join(f'{k}={v}' for k, v in f.as_params().items())}"
    )


@login_required
@require_POST
def report_delete(request, report_id: int):
    report = selectors.saved_report_get_for(request.user, report_id)
    services.saved_report_delete(by=request.user, report=report)
    messages.success(request, _("已删除报表“%(n)s”") % {"n": report.name})
    return redirect("reports:dashboard")


@login_required
def channel_costs(request):
    require_perm(request.user, Perm.SETTINGS_MANAGE, path=request.path)
    from loancrm.dictionaries.selectors import dictionary_choices

    from .models import ChannelCost

    today = timezone.localdate()
    try:
        month = date.fromisoformat((request.POST.get("month") or request.GET.get("month") or "")[:7] + "-01")
    except ValueError:
        month = today.replace(day=1)
    channels = dictionary_choices("channel", include_blank=False)
    errors: dict[str, str] = {}
    if request.method == "POST":
        for code, _label in channels:
            raw = request.POST.get(f"cost-{code}", "").strip()
            if raw == "":
                continue
            try:
                services.channel_cost_save(by=request.user, month=month, channel=code, amount=raw)
            except ValidationError:
                errors[code] = _("请填写金额，如 5000 或 0.5万")
        if not errors:
            messages.success(request, _("已保存 %(m)s 的渠道费用") % {"m": month.strftime("%Y-%m")})
            return redirect(f"{request.path}?month={month:%Y-%m}")
    current = dict(ChannelCost.objects.filter(month=month).values_list("channel", "amount"))
    rows = [
        {
            "code": c,
            "label": label,
            "value": request.POST.get(f"cost-{c}", current.get(c, "")),
            "error": errors.get(c),
        }
        for c, label in channels
    ]
    return render(request, "reports/channel_costs.html", {"month": month, "rows": rows})
