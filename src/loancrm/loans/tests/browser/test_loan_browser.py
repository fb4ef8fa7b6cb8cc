"""Finance disburses an approved application, the schedule appears, a partial payment updates it."""

import re

import pytest
from playwright.sync_api import expect

from loancrm.loans.models import Allocation, Loan, Repayment

from ....customers.tests.browser.test_login_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_disburse_then_partial_payment_updates_the_schedule(page, live_server, users, approved):
    login(page, live_server, "finance1")
    page.goto(f"{live_server.url}/intake/{approved.pk}/")
    form = page.locator("[data-testid=disburse-form]")
    form.locator("input[name=contract_no]").fill("NXB-2026-0042")
    expect(form.locator("input[name=annual_rate]")).to_have_value("7.20%")  # the product's rate, to check
    form.locator("input[name=annual_rate]").fill("abc")
    with page.expect_navigation():
        form.locator("[data-testid=act-disburse]").click()
    expect(page.locator("[data-testid=disburse-error]")).to_contain_text("年利率")
    expect(form.locator("input[name=contract_no]")).to_have_value("NXB-2026-0042")
    form.locator("input[name=annual_rate]").fill("4.35%")
    form.locator("select[name=method]").select_option("annuity")
    with page.expect_navigation():
        form.locator("[data-testid=act-disburse]").click()
    expect(page.locator("[data-testid=loan-no]")).to_contain_text(re.compile(r"DK\d{10}-[0-9X]"))
    expect(page.locator("[data-testid=loan-status]")).to_have_text("正常")
    rows = page.locator("[data-testid=schedule] tbody tr")
    expect(rows).to_have_count(12)
    loan = Loan.objects.get()
    first = loan.installments.order_by("period").first()

    # A partial payment of the first installment: the row turns 部分还款 and shows what was paid.
    repay = page.locator("[data-testid=repayment-form]")
    repay.locator("input[name=amount]").fill("5万")  # more than is owed: refused, named, kept
    with page.expect_navigation():
        repay.get_by_role("button", name="登记还款").click()
    expect(page.locator("[data-testid=repayment-error]")).to_contain_text("金额超过应还总额")
    expect(page.locator("[data-testid=repayment-form] input[name=amount]")).to_have_value("5万")
    page.locator("[data-testid=repayment-form] input[name=amount]").fill("1000")
    with page.expect_navigation():
        page.locator("[data-testid=repayment-form]").get_by_role("button", name="登记还款").click()
    row1 = page.locator("[data-testid=schedule] tbody tr[data-period='1']")
    expect(row1).to_have_attribute("data-status", "partial")
    expect(row1.locator("[data-testid=paid]")).to_have_text("1000.00")
    expect(page.locator("[data-testid=repayments]")).to_contain_text("1,000.00")
    first.refresh_from_db()
    assert first.interest_paid == first.interest_due and first.principal_paid == 1000 - first.interest_due
    assert sum(a.amount for a in Allocation.objects.all()) == sum(r.amount for r in Repayment.objects.all())
