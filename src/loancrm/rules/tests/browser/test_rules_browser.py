"""An admin builds a rule in the editor (测试 first, a bad value refused and kept), saves it; a big new
customer then rings the manager's bell; a rule-made to-do is ticked off on the to-do page."""

import pytest
from playwright.sync_api import expect

from loancrm.customers import services as customer_services
from loancrm.notifications import services as notify
from loancrm.notifications.models import Notification, Todo
from loancrm.rules.models import Rule

from ....customers.tests.browser.conftest import PHONE
from ....customers.tests.browser.test_login_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

RULE_NAME = "期望金额超过50万通知主管"


def fill_big_amount_rule(page, amount: str) -> None:
    form = page.locator("[data-testid=rule-form]")
    form.get_by_label("名称", exact=True).fill(RULE_NAME)
    form.get_by_label("对象", exact=True).select_option(label="客户")
    form.get_by_label("触发方式", exact=True).select_option(label="记录事件")
    events = form.locator("fieldset:has(legend:text-is('事件'))")
    expect(events).to_be_visible()  # shown only for 记录事件
    events.get_by_label("新建", exact=True).check()
    row = form.locator("[data-testid=condition-rows] tbody tr").first
    row.locator("select[name=c0-field]").select_option(label="期望金额（元）")
    row.locator("select[name=c0-cmp]").select_option(label="大于")
    row.locator("input[name=c0-value]").fill(amount)
    action = form.locator("[data-testid=action-row]").first
    action.get_by_label("动作 1", exact=True).select_option(label="站内通知")
    action.get_by_label("业务员的主管", exact=True).check()
    action.get_by_label("标题", exact=True).fill("大额客户 {{ customer_name }}")


def test_admin_builds_tests_and_saves_a_rule_that_rings_the_manager(
    page, new_page, live_server, users, customers, django_capture_on_commit_callbacks, huey_immediate
):
    login(page, live_server, "admin")
    page.goto(f"{live_server.url}/rules/")
    with page.expect_navigation():
        page.get_by_role("link", name="新建规则").click()
    assert page.url == f"{live_server.url}/rules/new/"

    # A value that is no number: the 测试 button answers in place, naming the condition.
    fill_big_amount_rule(page, "很多")
    preview = page.locator("[data-testid=rule-preview]")
    expect(preview).to_have_count(0)
    page.locator("[data-testid=rule-test]").click()
    expect(preview).to_contain_text("第 1 个条件（期望金额（元））：请输入数字")
    assert page.url == f"{live_server.url}/rules/new/"  # no navigation: what was typed is still there
    expect(page.locator("input[name=c0-value]")).to_have_value("很多")
    expect(page.locator("input[name=name]")).to_have_value(RULE_NAME)

    # Saving it is refused the same way; the page comes back with everything kept.
    with page.expect_navigation():
        page.locator("[data-testid=rule-save]").click()
    expect(page.locator("[data-testid=rule-errors]")).to_contain_text(
        "第 1 个条件（期望金额（元））：请输入数字"
    )
    expect(page.locator("input[name=c0-value]")).to_have_value("很多")
    expect(page.locator("input[name=name]")).to_have_value(RULE_NAME)
    expect(page.locator("select[name=trigger]")).to_have_value("event")
    expect(page.locator("input[name=events][value=created]")).to_be_checked()
    expect(page.locator("select[name=c0-field]")).to_have_value("expected_amount")
    expect(page.locator("select[name=c0-cmp]")).to_have_value("gt")
    expect(page.locator("select[name=a0-type]")).to_have_value("notify")
    expect(page.locator("#a0-to-owner_manager")).to_be_checked()
    expect(page.locator("#a0-title")).to_have_value("大额客户 {{ customer_name }}")
    assert not Rule.objects.filter(name=RULE_NAME).exists()

    # A real number: 测试 shows what would match now, still on the editor, nothing done.
    page.locator("input[name=c0-value]").fill("500000")
    page.locator("[data-testid=rule-test]").click()
    expect(preview).to_contain_text("现在符合条件的记录")
    expect(preview).to_contain_text("只是测试，没有执行任何动作")
    assert page.url == f"{live_server.url}/rules/new/"
    assert not Rule.objects.filter(name=RULE_NAME).exists() and not Notification.objects.exists()

    with page.expect_navigation():
        page.locator("[data-testid=rule-save]").click()
    assert page.url == f"{live_server.url}/rules/"
    expect(page.locator(".alert-success")).to_contain_text(RULE_NAME)
    row = page.locator("[data-testid=rule-table] tbody tr", has_text=RULE_NAME)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("业务员的主管")
    expect(row).to_contain_text("启用")
    rule = Rule.objects.get(name=RULE_NAME)
    assert rule.conditions == {
        "op": "and",
        "items": [{"field": "expected_amount", "cmp": "gt", "value": "500000"}],
    }

    # A salesperson's new 80万 customer: the rule tells sales1's 主管.
    with django_capture_on_commit_callbacks(execute=True):
        big = customer_services.customer_create(
            by=users["sales1"], data={"name": "马大户", "phone": "13995107788", "expected_amount": "80万"}
        )
    note = Notification.objects.get(rule=rule)
    assert note.user == users["manager1"]

    # On a phone the bell sits beside the menu button, in sight without opening the menu.
    phone = new_page(viewport=PHONE)
    login(phone, live_server, "manager1")
    expect(phone.locator(".navbar-toggler")).to_be_visible()
    expect(phone.locator("[data-testid=bell-count]")).to_be_visible()
    expect(phone.locator("[data-testid=bell-count]")).to_have_text("1")

    manager = new_page()
    login(manager, live_server, "manager1")
    expect(manager.locator("[data-testid=bell-count]")).to_have_text("1")
    with manager.expect_navigation():
        manager.locator("[data-testid=bell]").click()
    assert manager.url == f"{live_server.url}/notifications/"
    item = manager.locator("[data-testid=notification-list] a", has_text="大额客户 马大户")
    expect(item).to_contain_text("未读")
    expect(item).to_contain_text(RULE_NAME)
    with manager.expect_navigation():
        item.click()
    assert manager.url.startswith(live_server.url)
    if note.url:
        assert manager.url == f"{live_server.url}{note.url}"
    expect(manager.locator("[data-testid=bell-count]")).to_have_count(0)  # read now
    note.refresh_from_db()
    assert note.read_at is not None
    assert big.pk  # the customer the note is about exists


def test_a_rule_made_todo_is_ticked_off_on_the_todo_page(page, live_server, users, customers):
    rule = Rule.objects.get(code="birthday_eve")
    customer = customers.filter(owner=users["sales1"]).order_by("id").first()
    notify.todo_create(
        user=users["sales1"],
        title=f"明天是 {customer.name} 的生日",
        body="打电话祝福",
        customer=customer,
        rule=rule,
    )
    notify.todo_create(user=users["sales2"], title="别人的待办", rule=rule)

    login(page, live_server, "sales1")
    page.goto(f"{live_server.url}/intake/todo/")
    expect(page.get_by_role("heading", name="提醒待办")).to_be_visible()
    reminders = page.locator("[data-testid=todo-reminders] tbody tr")
    expect(reminders).to_have_count(1)
    expect(reminders.first).to_contain_text(f"明天是 {customer.name} 的生日")
    expect(reminders.first).to_contain_text("打电话祝福")
    with page.expect_navigation():
        reminders.first.get_by_role("button", name="完成").click()
    assert page.url == f"{live_server.url}/intake/todo/"
    expect(page.locator("[data-testid=todo-reminders]")).to_have_count(0)
    expect(page.get_by_text("别人的待办")).to_have_count(0)
    assert Todo.objects.get(user=users["sales1"]).status == Todo.Status.DONE
