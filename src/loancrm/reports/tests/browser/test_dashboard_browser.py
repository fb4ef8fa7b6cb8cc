"""Acceptance 1: a manager sees the six panels for their department, filters by month and channel,
clicks a bar and lands on the list of those records."""

import re

import pytest
from playwright.sync_api import expect

from loancrm.customers.models import Customer
from loancrm.reports.facts import facts_refresh

from ....customers.tests.browser.test_login_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_manager_filters_the_dashboard_and_clicks_through_a_bar(page, live_server, users, customers):
    facts_refresh()
    login(page, live_server, "manager1")
    page.goto(f"{live_server.url}/reports/")
    for key in ("channel", "sales", "node_time", "portrait", "overdue", "service"):
        expect(page.locator(f"[data-testid=panel-{key}]")).to_be_visible()
    # This month and one channel.
    from django.utils import timezone

    today = timezone.localdate()
    mine = Customer.objects.filter(department__path__startswith=users["manager1"].department.path)
    channel = mine.values_list("channel", flat=True).order_by("channel").first()
    page.fill("#r-from", f"{today.year - 1}-01-01")
    page.fill("#r-to", today.isoformat())
    page.select_option("#r-channel", channel)
    with page.expect_navigation():
        page.locator("[data-testid=report-apply]").click()
    panel = page.locator("[data-testid=panel-channel]")
    expect(panel.locator("table tbody tr")).to_have_count(1)
    expected = mine.filter(channel=channel, created_at__date__gte=f"{today.year - 1}-01-01").count()
    expect(panel.locator("table tbody tr td").nth(1)).to_have_text(str(expected))
    # Click the first bar of the chart (ECharts tells where it drew it).
    chart = panel.locator(".report-chart")
    expect(chart.locator("svg")).to_be_visible()
    chart.scroll_into_view_if_needed()
    x, y = page.evaluate(
        """el => { const c = echarts.getInstanceByDom(el);
                   const r = c.getModel().getSeriesByIndex(0).getData().getItemLayout(0);
                   return [r.x + r.width / 2, r.y + r.height / 2]; }""",
        chart.element_handle(),
    )
    box = chart.bounding_box()
    with page.expect_navigation():
        page.mouse.click(box["x"] + x, box["y"] + y)
    assert re.search(rf"/customers/\\?.*channel={channel}", page.url)
    expect(page.locator("[data-testid=result-count]")).to_contain_text(f"共 {expected} 条")
