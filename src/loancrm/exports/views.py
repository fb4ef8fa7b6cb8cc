from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.core.downloads import XLSX, private_file_response

from . import selectors, services

RECENT = 50


@login_required
@require_POST
def export_create(request):
    """From the customer list's export buttons: the list's query string, a format and maybe 含完整信息."""
    query = request.POST.get("query", "")
    try:
        job = services.export_job_create(
            by=request.user,
            filters=QueryDict(query),
            fmt=request.POST.get("format", ""),
            reveal=request.POST.get("reveal") == "1",
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(reverse("customers:list") + (f"?{query}" if query else ""))
    return redirect("exports:detail", job_id=job.pk)


@login_required
def export_list(request):
    require_perm(request.user, Perm.CUSTOMER_EXPORT, path=request.path)
    jobs = list(selectors.export_jobs_for(request.user)[:RECENT])
    for job in jobs:
        job.filter_items = selectors.describe_filters(job.filters)
    return render(request, "exports/list.html", {"jobs": jobs})


@login_required
def export_detail(request, job_id: int):
    require_perm(request.user, Perm.CUSTOMER_EXPORT, path=request.path)
    job = selectors.export_job_get_for(request.user, job_id)
    job.filter_items = selectors.describe_filters(job.filters)
    return render(request, "exports/detail.html", {"job": job})


@login_required
def export_progress(request, job_id: int):
    """The progress card alone, polled by htmx every second while the job runs."""
    require_perm(request.user, Perm.CUSTOMER_EXPORT, path=request.path)
    job = selectors.export_job_get_for(request.user, job_id)
    return render(request, "exports/_progress.html", {"job": job})


@login_required
def export_download(request, job_id: int):
    job = selectors.export_job_get_for(request.user, job_id)
    handle = services.export_job_open(by=request.user, job=job)
    content_type = XLSX if job.format == "xlsx" else "text/csv; charset=utf-8"
    return private_file_response(handle, filename=job.download_name, content_type=content_type)
