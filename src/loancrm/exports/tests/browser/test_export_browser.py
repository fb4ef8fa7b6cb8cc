"""Export as a manager does it: filter the customer list, 导出 Excel, watch the progress bar (htmx polls the
progress every second) reach 100 %, download the file; the export list shows it."""

import pytest
from playwright.sync_api import expect

from loancrm.customers.selectors import CustomerFilters, customer_list
from loancrm.customers.tests.browser.test_login_browser import login
from loancrm.exports import services, tasks
from loancrm.exports.models import ExportJob, ExportStatus

from ..conftest import read_xlsx

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PROGRESS = "[data-testid=export-progress]"


def test_manager_exports_the_filtered_list(page, live_server, users, customers, monkeypatch, tmp_path):
    queued: list[int] = []
    # The worker is this test: the job stays queued until it runs it, so the page has to poll.
    monkeypatch.setattr(tasks, "run_export", queued.append)
    login(page, live_server, "manager1")
    page.goto(live_server.url + "/customers/?stage=contacted")
    form = page.locator("[data-testid=export-form]")
    expect(form.get_by_label("含完整信息（将被审计）")).not_to_be_checked()
    with page.expect_navigation():
        form.get_by_role("button", name="导出 Excel").click()

    job = ExportJob.objects.get()
    assert page.url == f"{live_server.url}/exports/{job.pk}/" and queued == [job.pk]
    assert job.filters == {"stage": "contacted"} and job.format == "xlsx" and not job.reveal
    progress = page.locator(PROGRESS)
    expect(progress).to_have_attribute("data-status", "queued")
    expect(page.get_by_text("阶段：初步接洽")).to_be_visible()

    services.export_job_run(job_id=job.pk)
    expect(progress).to_have_attribute("data-status", "done")  # picked up by polling, no reload
    expect(progress.locator(".progress-bar")).to_have_text("100%")
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE
    page.screenshot(path=tmp_path / "export-done.png", full_page=True)

    with page.expect_download() as info:
        progress.get_by_role("link", name="下载文件").click()
    download = info.value
    assert download.suggested_filename == job.download_name
    rows = read_xlsx(download.path())
    expected = customer_list(users["manager1"], CustomerFilters(stage="contacted")).count()
    assert len(rows) == expected + 1 and expected == job.rows_done

    page.goto(live_server.url + "/exports/")
    expect(page.locator("[data-testid=export-table] tbody tr")).to_have_count(1)
