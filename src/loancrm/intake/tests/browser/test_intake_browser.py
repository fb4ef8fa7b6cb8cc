"""The whole path of an application, lead to disbursement, as the demo users walk it in chromium.

sales1 starts it from the customer's page, passes 进件 and 预审 (征信良好), uploads the checklist's
materials, and the 3万 application skips 风控; 审批决策 is 会签: manager1 agrees and it waits,
approver1 agrees and it is approved; sales1 signs the contract; finance1 disburses.
"""

import re

import pytest
from playwright.sync_api import expect

from loancrm.audit.models import AuditEntry
from loancrm.intake.models import LoanApplication, Transition
from loancrm.intake.services import missing_materials

from ....customers.tests.browser.test_login_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

PDF = b"%PDF-1.4\n% browser test\n"


def state(page, code: str):
    return page.locator(f"[data-testid=flow] [data-node={code}]")


def act(page, button: str) -> None:
    with page.expect_navigation():
        page.locator(f"[data-testid=act-{button}]").click()


def test_lead_to_disbursement_with_the_demo_users(new_page, live_server, users, products, customer):
    page = new_page()
    login(page, live_server, "sales1")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    page.locator("[data-testid=customer-new-application]").click()
    form = page.locator("[data-testid=application-form]")
    form.locator("select[name=product]").select_option(label=str(products["xinyidai"]))
    form.locator("input[name=amount]").fill("abc")
    form.locator("input[name=term_months]").fill("12")
    with page.expect_navigation():
        form.get_by_role("button", name="提交进件").click()
    # A wrong amount is named, and what was typed stays.
    expect(form).to_contain_text("请填写大于 0 的金额")
    expect(form.locator("input[name=term_months]")).to_have_value("12")
    form.locator("input[name=amount]").fill("3万")
    with page.expect_navigation():
        form.get_by_role("button", name="提交进件").click()
    expect(page.locator("[data-testid=application-no]")).to_have_text(re.compile(r"^JJ\d{10}-[0-9X]"))
    app = LoanApplication.objects.get()
    assert app.amount == 30000
    expect(state(page, "intake")).to_have_attribute("data-state", "current")
    expect(state(page, "risk")).to_have_attribute("data-state", "ahead")  # no credit grade yet

    act(page, "submit")  # 进件 → 预审
    expect(state(page, "precheck")).to_have_attribute("data-state", "current")
    act(page, "submit")  # without a credit grade: refused, named
    expect(page.locator(".alert-danger")).to_contain_text("征信等级")
    page.locator("select[name=credit_grade]").select_option("good")
    act(page, "submit")
    expect(state(page, "materials")).to_have_attribute("data-state", "current")
    expect(state(page, "risk")).to_have_attribute("data-state", "skipped")  # 3万 + 良好

    # 初审: the checklist is checked before the node can be passed.
    act(page, "submit")
    expect(page.locator(".alert-danger")).to_contain_text("必需材料不齐")
    upload = page.locator("[data-testid=upload-form]")
    for req in missing_materials(app):
        upload.locator("select[name=kind]").select_option(req.kind)
        upload.locator("input[name=file]").set_input_files(
            {"name": f"{req.kind}.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
        with page.expect_navigation():
            upload.get_by_role("button", name="上传").click()
    expect(page.locator("[data-testid=material]")).to_have_count(6)
    act(page, "submit")
    expect(state(page, "decision")).to_have_attribute("data-state", "current")
    expect(page.locator("[data-testid=handler]")).to_have_count(2)  # 会签: manager1 and approver1

    # 会签: the first approver's "同意" leaves it waiting for the second.
    manager = new_page()
    login(manager, live_server, "manager1")
    expect(manager.locator("[data-testid=todo-count]")).to_have_text("1")
    manager.locator("[data-testid=nav-todo]").click()
    manager.locator("[data-testid=todo-table]").get_by_role("link", name=app.application_no).click()
    manager.locator("textarea[name=comment]").fill("收入稳定，同意")
    act(manager, "approve")
    expect(manager.locator("[data-testid=application-status]")).to_have_text("审批中")
    app.refresh_from_db()
    assert app.node.code == "decision" and app.handler == users["approver1"]

    approver = new_page()
    login(approver, live_server, "approver1")
    approver.goto(f"{live_server.url}/intake/{app.pk}/")
    approver.locator("input[name=approved_rate]").fill("12.5")
    act(approver, "approve")
    expect(approver.locator("[data-testid=application-status]")).to_have_text("已批准")
    expect(state(approver, "contract")).to_have_attribute("data-state", "current")

    page.reload()
    act(page, "submit")  # 合同签订
    expect(state(page, "disbursement")).to_have_attribute("data-state", "current")

    finance = new_page()
    login(finance, live_server, "finance1")
    finance.goto(f"{live_server.url}/intake/{app.pk}/")
    act(finance, "submit")
    expect(finance.locator("[data-testid=application-status]")).to_have_text("已放款")
    expect(state(finance, "post_loan")).to_have_attribute("data-state", "current")
    expect(finance.locator("[data-testid=history] li")).to_have_count(
        8
    )  # created, 5 passes, a 会签 vote, the decision

    app.refresh_from_db()
    assert app.status == "disbursed" and app.approved_rate == 12.5
    moves = list(Transition.objects.filter(application=app).values_list("action", "from_node", "to_node"))
    assert [m[1] for m in moves if m[0] != "vote"] == [
        "",
        "intake",
        "precheck",
        "materials",
        "decision",
        "contract",
        "disbursement",
    ]
    assert AuditEntry.objects.filter(action="application.action", object_id=str(app.pk)).count() == len(moves)
    assert app.notices.filter(event="survey").exists()
