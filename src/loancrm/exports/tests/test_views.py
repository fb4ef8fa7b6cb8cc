"""Export pages: the buttons on the customer list, creating a job from the list's query string, the
progress page and its htmx partial, the download (owner only, audited) and the list of one's exports."""

from pathlib import Path

import pytest
from django.urls import reverse

from loancrm.audit.models import Action, AuditEntry
from loancrm.conftest import login
from loancrm.customers.selectors import CustomerFilters, customer_list
from loancrm.exports.models import ExportJob, ExportStatus
from loancrm.imports.columns import COLUMNS

from .conftest import read_csv, read_xlsx

pytestmark = pytest.mark.django_db

CREATE = reverse("exports:create")
HEADERS = [c.header for c in COLUMNS]
PHONE_COL = HEADERS.index("手机号码")


def post_export(client, capture, query: str = "", fmt: str = "csv", reveal: bool = False, execute=True):
    data = {"query": query, "format": fmt}
    if reveal:
        data["reveal"] = "1"
    with capture(execute=execute):
        return client.post(CREATE, data)


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- the buttons on the customer list --------------------------------------------------------------


def test_list_offers_export_with_reveal_only_to_revealers(client, users, customers):
    login(client, users["manager1"])
    html = client.get(reverse("customers:list") + "?stage=contacted&page=2").content.decode()
    assert 'data-testid="export-form"' in html and "导出 Excel" in html and "导出 CSV" in html
    assert 'name="query" value="stage=contacted&amp;page=2"' in html
    assert "含完整信息（将被审计）" in html

    login(client, users["finance1"])  # exports, masked only
    html = client.get(reverse("customers:list")).content.decode()
    assert "导出 Excel" in html and "含完整信息" not in html

    login(client, users["sales1"])  # no export permission
    html = client.get(reverse("customers:list")).content.decode()
    assert 'data-testid="export-form"' not in html


# --- creating a job, its page and its progress ------------------------------------------------------


def test_export_from_the_list_query_string(client, users, customers, capture):
    manager = users["manager1"]
    login(client, manager)
    response = post_export(client, capture, query="stage=contacted&page=2&sort=name", fmt="xlsx")
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("exports:detail", args=[job.pk])
    assert job.created_by == manager and job.filters == {"stage": "contacted", "sort": "name"}
    assert job.format == "xlsx" and job.reveal is False and job.status == ExportStatus.DONE

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-status="done"' in html
    assert reverse("exports:progress", args=[job.pk]) not in html  # finished: no more polling
    assert reverse("exports:download", args=[job.pk]) in html and "100%" in html
    assert "阶段：初步接洽" in html  # the filters as a person reads them

    download = client.get(reverse("exports:download", args=[job.pk]))
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, no-store"
    assert "attachment" in download["Content-Disposition"]
    rows = read_xlsx(b"".join(download.streaming_content))
    expected = list(
        customer_list(manager, CustomerFilters(stage="contacted"))
        .order_by("name", "-id")
        .values_list("customer_no", flat=True)
    )
    assert rows[0] == HEADERS and [r[0] for r in rows[1:]] == expected
    entry = AuditEntry.objects.get(action=Action.EXPORT_DOWNLOAD)
    assert entry.actor == manager and entry.object_id == str(job.pk)


def test_progress_partial_polls_while_running(client, users, customers, capture):
    login(client, users["admin"])
    post_export(client, capture, execute=False)  # the worker has not picked it up yet
    job = ExportJob.objects.get()
    url = reverse("exports:progress", args=[job.pk])
    html = client.get(url).content.decode()
    assert job.status == ExportStatus.QUEUED
    assert f'hx-get="{url}"' in html and 'hx-trigger="every 1s"' in html
    assert reverse("exports:download", args=[job.pk]) not in html
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 404  # no file yet

    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, rows_total=60, rows_done=30)
    html = client.get(url).content.decode()
    assert "50%" in html and "hx-get" in html and "30 / 60" in html

    from loancrm.exports.services import export_job_run

    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.QUEUED)
    export_job_run(job_id=job.pk)
    html = client.get(url).content.decode()
    assert "hx-get" not in html and 'data-status="done"' in html and "下载文件" in html


def test_reveal_export_from_the_page(client, users, customers, capture):
    login(client, users["manager1"])
    post_export(client, capture, reveal=True)
    job = ExportJob.objects.get()
    assert job.reveal is True
    data = b"".join(client.get(reverse("exports:download", args=[job.pk])).streaming_content)
    phones = [r[PHONE_COL] for r in read_csv(data)[1:]]
    assert phones and all("*" not in p for p in phones)
    assert AuditEntry.objects.get(action=Action.EXPORT).extra["revealed"] is True


def test_masked_export_hides_phones(client, users, customers, capture):
    login(client, users["finance1"])
    post_export(client, capture)
    job = ExportJob.objects.get()
    data = b"".join(client.get(reverse("exports:download", args=[job.pk])).streaming_content)
    assert data.startswith(b"\xef\xbb\xbf")
    phones = [r[PHONE_COL] for r in read_csv(data)[1:]]
    assert len(phones) == 60 and all("****" in p for p in phones)


def test_refused_without_permission(client, users, customers, capture):
    login(client, users["sales1"])
    assert post_export(client, capture).status_code == 403
    assert client.get(reverse("exports:list")).status_code == 403
    login(client, users["finance1"])
    assert post_export(client, capture, reveal=True).status_code == 403
    assert not ExportJob.objects.exists()
    assert AuditEntry.objects.filter(
        action=Action.PERMISSION_DENIED, extra__permission="customer.reveal"
    ).exists()


def test_bad_format_goes_back_to_the_list(client, users, capture):
    login(client, users["admin"])
    response = post_export(client, capture, query="stage=new", fmt="pdf")
    assert response.status_code == 302 and response["Location"] == reverse("customers:list") + "?stage=new"
    assert not ExportJob.objects.exists()


def test_only_post_creates(client, users):
    login(client, users["admin"])
    assert client.get(CREATE).status_code == 405


# --- whose jobs --------------------------------------------------------------------------------------


def test_other_users_job_is_404(client, users, customers, capture):
    login(client, users["manager1"])
    post_export(client, capture)
    job = ExportJob.objects.get()
    assert Path(job.file_path).exists()
    for other in ("admin", "finance1"):  # even an admin cannot fetch someone else's file
        login(client, users[other])
        for name in ("detail", "progress", "download"):
            assert client.get(reverse(f"exports:{name}", args=[job.pk])).status_code == 404, (other, name)
    assert not AuditEntry.objects.filter(action=Action.EXPORT_DOWNLOAD).exists()
    client.logout()
    response = client.get(reverse("exports:download", args=[job.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_export_list_shows_own_jobs_only(client, users, customers, capture):
    login(client, users["manager1"])
    post_export(client, capture, query="stage=contacted")
    login(client, users["admin"])
    post_export(client, capture, fmt="xlsx")
    html = client.get(reverse("exports:list")).content.decode()
    admin_job = ExportJob.objects.get(created_by=users["admin"])
    manager_job = ExportJob.objects.get(created_by=users["manager1"])
    assert reverse("exports:detail", args=[admin_job.pk]) in html
    assert reverse("exports:detail", args=[manager_job.pk]) not in html
    assert "XLSX" in html and "全部客户（无筛选）" in html


def test_downloaded_revealed_file_needs_reveal_still(client, users, customers, capture):
    manager = users["manager1"]
    login(client, manager)
    post_export(client, capture, reveal=True)
    job = ExportJob.objects.get()
    manager.role.permissions = [p for p in manager.role.permissions if p != "customer.reveal"]
    manager.role.save()
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 403
