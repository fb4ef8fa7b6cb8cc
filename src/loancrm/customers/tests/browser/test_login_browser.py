"""Log-in as a person does it: a real chromium against the live server, in Chinese.

Playwright's sync API runs an asyncio loop in the test thread; the `_browser_holder` fixture
(conftest.py) sets DJANGO_ALLOW_ASYNC_UNSAFE=true while the browser is up so the ORM still works here.
"""

import re

import pytest
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import translation
from playwright.sync_api import expect

from loancrm.conftest import PASSWORD
from loancrm.customers.models import Customer

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

LOGIN = "/accounts/login/"
NAV = "[data-testid=main-nav]"
ERROR = "[data-testid=login-error]"
PHONE = {"width": 390, "height": 844}


def submit_login(page, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    # The language switcher below the card is a form too: click the log-in form's own button.
    with page.expect_navigation():
        page.locator("form:has(#id_username) button[type=submit]").click()


def open_login(page, live_server) -> None:
    page.goto(live_server.url + LOGIN)
    expect(page.locator("#id_username")).to_be_visible()


def login(page, live_server, username: str, password: str = PASSWORD) -> None:
    open_login(page, live_server)
    submit_login(page, username, password)


def nav_labels(page) -> list[str]:
    return [t.strip() for t in page.locator(f"{NAV} .nav-link").all_inner_texts()]


def test_salesperson_logs_in_and_sees_only_own_customers(page, live_server, users, customers):
    login(page, live_server, "sales1")

    # Lands on the workbench, greeted by name, with the Chinese navigation for a salesperson.
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator("h1")).to_contain_text(users["sales1"].full_name)
    labels = nav_labels(page)
    assert {"工作台", "客户", "设置"} <= set(labels), labels
    assert "规则" not in labels and "报表" not in labels, labels

    page.locator(NAV).get_by_role("link", name="客户", exact=True).click()
    expect(page).to_have_url(live_server.url + "/customers/")
    table = page.locator("[data-testid=customer-table]")
    expect(table).to_be_visible()

    own = Customer.objects.filter(owner__username="sales1").order_by("-id")
    total = own.count()
    assert 20 < total < Customer.objects.count()  # the fixture gives sales1 more than a page, not all
    with translation.override("zh-hans"):
        count_text = f"共 {intcomma(total)} 条"
    expect(page.locator("[data-testid=result-count]")).to_contain_text(count_text)
    shown = [n.strip() for n in table.locator("tbody tr td:nth-child(2) a").all_inner_texts()]
    assert shown == [c.name for c in own[:20]]
    phones = [p.strip() for p in table.locator("tbody tr td:nth-child(4)").all_inner_texts()]
    assert phones == [c.masked_phone for c in own[:20]]  # masked, and hers


def test_wrong_password_shows_chinese_error(page, live_server, users):
    login(page, live_server, "sales1", "not-the-password")
    expect(page.locator(ERROR)).to_contain_text("用户名或密码错误")
    expect(page).to_have_url(re.compile(re.escape(live_server.url + LOGIN)))
    expect(page.locator(NAV)).to_have_count(0)
    # The username is kept; the password is not.
    expect(page.locator("#id_username")).to_have_value("sales1")
    expect(page.locator("#id_password")).to_have_value("")


def test_sixth_attempt_is_locked_even_with_the_right_password(page, live_server, users):
    open_login(page, live_server)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        submit_login(page, "sales1", f"wrong-{attempt}")
        expect(page.locator(ERROR)).to_be_visible()
    submit_login(page, "sales1", PASSWORD)
    expect(page.locator(ERROR)).to_contain_text("账户已锁定")
    expect(page.locator(ERROR)).to_contain_text("15 分钟")
    expect(page).to_have_url(re.compile(re.escape(live_server.url + LOGIN)))
    expect(page.locator(NAV)).to_have_count(0)


def test_phone_width_menu_opens_and_reaches_customers(new_page, live_server, users, customers):
    page = new_page(viewport=PHONE)
    login(page, live_server, "sales1")
    expect(page).to_have_url(live_server.url + "/")

    customers_link = page.locator(NAV).get_by_role("link", name="客户", exact=True)
    toggler = page.locator(".navbar-toggler")
    expect(toggler).to_be_visible()
    expect(customers_link).to_be_hidden()  # collapsed on a phone

    toggler.click()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(customers_link).to_be_visible()
    customers_link.click()
    expect(page).to_have_url(live_server.url + "/customers/")
    expect(page.locator("[data-testid=customer-table]")).to_be_visible()
    # Nothing wider than the phone: the table scrolls inside its own box, not the whole page.
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], page_width
