"""The customer center as a salesperson and a manager use it: a real chromium against the live server.

Create (with the mistakes people make: a wrong ID check character, a phone one digit short), fix and
save, edit, find again by full phone and full ID number, add a follow-up, read the version history;
an enterprise customer with its 统一社会信用代码; a manager revealing a masked phone (audited).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loancrm.audit.models import AuditEntry
from loancrm.core.crypto import blind_index
from loancrm.customers import services
from loancrm.customers.models import Customer
from loancrm.customers.validators import resident_id_check_char, uscc_check_char

from .test_login_browser import login

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

NAV = "[data-testid=main-nav]"
FORM = "[data-testid=customer-form]"
TABLE = "[data-testid=customer-table]"
CUSTOMER_NO = re.compile(r"^KH\d{10}-[0-9X]$")

NAME = "马晓东"
HOUSEHOLD = "宁夏银川市兴庆区解放东街 88 号"
CURRENT = "银川市金凤区北京中路 166 号 3 单元 502"
# Born 1990-03-07 in 兴庆区; the 17th digit (3) is odd: a man.
ID17 = "64010419900307123"
GOOD_ID = ID17 + resident_id_check_char(ID17)
BAD_ID = ID17 + next(c for c in "0123456789X" if c != resident_id_check_char(ID17))
GOOD_PHONE = "13812345678"
BAD_PHONE = "1381234567"  # ten digits

COMPANY = "宁夏塞上枸杞商贸有限公司"
USCC17 = "91640100MA7612345"
GOOD_USCC = USCC17 + uscc_check_char(USCC17)
BAD_USCC = USCC17 + next(c for c in "0123456789" if c != uscc_check_char(USCC17))


def field_error(page, name: str):
    return page.locator(f"{FORM} [data-field-error={name}]")


def detail_value(page, name: str):
    return page.locator(f"dd[data-field={name}]")


def save_form(page) -> None:
    with page.expect_navigation():
        page.locator(FORM).get_by_role("button", name="保存").first.click()


def open_customers(page, live_server) -> None:
    page.locator(NAV).get_by_role("link", name="客户", exact=True).click()
    expect(page).to_have_url(live_server.url + "/customers/")


def search_list(page, text: str) -> None:
    box = page.locator("[data-testid=customer-filters] input[name=q]")
    box.fill(text)
    with page.expect_navigation():
        box.press("Enter")


def test_salesperson_creates_edits_finds_and_follows_up_a_customer(page, live_server, users, customers):
    # The numbers typed below must be new to the fixture's customers (else the 撞单 check answers).
    assert not Customer.objects.filter(phone_bidx=blind_index(GOOD_PHONE)).exists()
    assert not Customer.objects.filter(id_number_bidx=blind_index(GOOD_ID)).exists()

    login(page, live_server, "sales1")
    open_customers(page, live_server)
    page.get_by_role("link", name="新建个人客户").click()
    expect(page.locator("h1")).to_contain_text("新建客户")
    expect(page.locator("#id_customer_type")).to_have_value("individual")

    # First try: a wrong check character and a phone one digit short.
    page.fill("#id_name", NAME)
    page.fill("#id_id_number", BAD_ID)
    page.fill("#id_household_address", HOUSEHOLD)
    page.fill("#id_current_address", CURRENT)
    page.fill("#id_phone", BAD_PHONE)
    page.fill("#id_expected_amount", "300000")
    page.select_option("#id_stage", label="初步接洽")
    save_form(page)

    expect(page.locator("[data-testid=form-error]")).to_contain_text("已填写的内容都已保留")
    expect(field_error(page, "id_number")).to_contain_text("身份证号码校验位不正确")
    expect(field_error(page, "phone")).to_contain_text("手机号码应为 11 位")
    expect(page.locator("#id_id_number")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#id_phone")).to_have_class(re.compile(r"\bis-invalid\b"))
    # What was typed is still there.
    expect(page.locator("#id_name")).to_have_value(NAME)
    expect(page.locator("#id_household_address")).to_have_value(HOUSEHOLD)
    expect(page.locator("#id_current_address")).to_have_value(CURRENT)
    expect(page.locator("#id_id_number")).to_have_value(BAD_ID)
    expect(page.locator("#id_phone")).to_have_value(BAD_PHONE)
    expect(page.locator("#id_expected_amount")).to_have_value("300000")
    expect(page.locator("#id_stage option:checked")).to_have_text("初步接洽")
    assert not Customer.objects.filter(name=NAME).exists()

    # Fix both and save: the 360 page of the new customer.
    page.fill("#id_id_number", GOOD_ID)
    page.fill("#id_phone", GOOD_PHONE)
    save_form(page)

    customer = Customer.objects.get(name=NAME)
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.get_by_role("alert").filter(has_text="已创建")).to_contain_text(customer.customer_no)
    expect(page.locator("[data-testid=customer-name]")).to_contain_text(NAME)
    expect(page.locator("[data-testid=customer-no]")).to_have_text(CUSTOMER_NO)
    assert CUSTOMER_NO.match(customer.customer_no), customer.customer_no
    assert customer.owner == users["sales1"]
    # Derived from the ID number, not typed.
    expect(detail_value(page, "gender")).to_have_text("男")
    expect(detail_value(page, "birth_date")).to_contain_text("1990")
    expect(detail_value(page, "birth_date")).to_contain_text(re.compile(r"0?3\D+0?7"))
    expect(detail_value(page, "household_address")).to_have_text(HOUSEHOLD)
    # Masked for a salesperson: never the full numbers on the page.
    expect(detail_value(page, "phone")).to_have_text("138****5678")
    expect(detail_value(page, "id_number")).to_have_text(GOOD_ID[:6] + "*" * 8 + GOOD_ID[14:])
    assert GOOD_PHONE not in page.content() and GOOD_ID not in page.content()
    expect(page.locator("[data-testid=customer-name] .badge")).to_have_text(["个人", "初步接洽"])

    # Edit: a larger amount and the next stage.
    page.get_by_role("link", name="编辑", exact=True).click()
    expect(page.locator("h1")).to_contain_text("编辑客户")
    expect(page.locator("#id_phone")).to_have_value("")  # the stored number never goes into the page
    expect(page.locator("#id_phone")).to_have_attribute("placeholder", "138****5678")
    page.fill("#id_expected_amount", "500000")
    page.select_option("#id_stage", label="资料收集中")
    save_form(page)
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.get_by_role("alert").filter(has_text="已保存")).to_be_visible()
    expect(detail_value(page, "expected_amount")).to_contain_text(re.compile(r"500,?000"))
    expect(detail_value(page, "stage")).to_have_text("资料收集中")
    expect(detail_value(page, "phone")).to_have_text("138****5678")  # left blank: kept
    customer.refresh_from_db()
    assert customer.phone == GOOD_PHONE and customer.id_number == GOOD_ID
    assert customer.stage == "collecting" and customer.expected_amount == 500000

    # Find her again in the list by the full phone, then by the full ID number: one row each.
    for text in (GOOD_PHONE, GOOD_ID):
        open_customers(page, live_server)
        search_list(page, text)
        rows = page.locator(f"{TABLE} tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first.locator("td:nth-child(2) a")).to_have_text(NAME)
        expect(page.locator("[data-testid=result-count]")).to_contain_text("共 1 条")

    # A follow-up on the 360 page shows in the timeline.
    page.locator(f"{TABLE} tbody tr").first.get_by_role("link", name=NAME).click()
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")
    follow = page.locator("#follow-ups form")
    follow.locator("#id_way").select_option(label="电话")
    follow.locator("#id_content").fill("电话沟通：客户要 50 万经营周转，房产在金凤区，约周五面谈")
    follow.locator("#id_next_step").fill("周五上门收征信报告和银行流水")
    with page.expect_navigation():
        follow.get_by_role("button", name="保存跟进").click()
    expect(page.get_by_role("alert").filter(has_text="跟进记录已保存")).to_be_visible()
    timeline = page.locator("[data-testid=timeline]")
    entry = timeline.locator("li").filter(has_text="约周五面谈")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("跟进")
    expect(entry).to_contain_text("周五上门收征信报告和银行流水")
    expect(entry).to_contain_text(users["sales1"].display_name)

    # Version history: the edit, old → new, in words people use (labels, not codes).
    page.get_by_role("link", name="版本历史").click()
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/history/")
    history = page.locator("[data-testid=history-table]")
    edit_row = history.locator("tbody tr").filter(has_text="期望金额")
    expect(edit_row).to_have_count(1)
    expect(edit_row).to_contain_text(users["sales1"].display_name)
    amount = edit_row.locator("div").filter(has_text="期望金额")
    expect(amount.locator("del")).to_contain_text(re.compile(r"300,?000"))
    expect(amount.locator("ins")).to_contain_text(re.compile(r"500,?000"))
    stage = edit_row.locator("div").filter(has_text="当前阶段")
    expect(stage.locator("ins")).to_have_text("资料收集中")
    expect(stage.locator("del")).to_have_text("初步接洽")


def test_customer_saved_without_a_stage_starts_as_new_lead(page, live_server, users, customers):
    """Nobody picks 当前阶段 for a fresh lead: it should be 新线索 (the model default), as via the API."""
    login(page, live_server, "sales1")
    page.goto(live_server.url + "/customers/new/")
    page.fill("#id_name", "何春花")
    page.fill("#id_phone", "13912345678")
    save_form(page)
    customer = Customer.objects.get(name="何春花")
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")
    expect(detail_value(page, "stage")).to_have_text("新线索")
    expect(page.locator("[data-testid=customer-name] .badge")).to_have_text(["个人", "新线索"])
    assert customer.stage == "new"


def test_salesperson_creates_an_enterprise_customer(page, live_server, users, customers):
    assert not Customer.objects.filter(uscc=GOOD_USCC).exists()
    login(page, live_server, "sales1")
    open_customers(page, live_server)
    page.get_by_role("link", name="新建企业客户").click()
    expect(page.locator("#id_customer_type")).to_have_value("enterprise")
    # Only the enterprise sections: no ID number or household address for a company.
    expect(page.locator("#id_uscc")).to_be_visible()
    expect(page.locator("#id_id_number")).to_be_hidden()
    expect(page.locator("#id_household_address")).to_be_hidden()

    page.fill("#id_name", COMPANY)
    page.fill("#id_uscc", BAD_USCC)
    page.fill("#id_legal_representative", "周建军")
    page.fill("#id_business_address", "银川市兴庆区丽景北街 20 号")
    page.fill("#id_expected_amount", "2000000")
    save_form(page)
    expect(field_error(page, "uscc")).to_contain_text("统一社会信用代码校验位不正确")
    expect(page.locator("#id_customer_type")).to_have_value("enterprise")
    expect(page.locator("#id_id_number")).to_be_hidden()
    expect(page.locator("#id_name")).to_have_value(COMPANY)
    expect(page.locator("#id_legal_representative")).to_have_value("周建军")
    assert not Customer.objects.filter(name=COMPANY).exists()

    page.fill("#id_uscc", GOOD_USCC.lower())  # typed in lower case: stored in upper case
    save_form(page)
    company = Customer.objects.get(name=COMPANY)
    expect(page).to_have_url(f"{live_server.url}/customers/{company.pk}/")
    expect(page.locator("[data-testid=customer-no]")).to_have_text(CUSTOMER_NO)
    expect(page.locator("[data-testid=customer-name] .badge").first).to_have_text("企业")
    expect(detail_value(page, "uscc")).to_have_text(GOOD_USCC)
    expect(detail_value(page, "legal_representative")).to_have_text("周建军")
    expect(page.locator("dd[data-field=id_number]")).to_have_count(0)
    assert company.is_enterprise and company.uscc == GOOD_USCC

    # Found by its code in the list, marked as a company.
    open_customers(page, live_server)
    search_list(page, GOOD_USCC)
    rows = page.locator(f"{TABLE} tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(COMPANY)
    expect(rows.first.locator(".badge")).to_have_text("企业")


def test_manager_reveals_a_salespersons_customer_and_it_is_audited(page, live_server, users, customers):
    customer = customers.filter(owner=users["sales1"]).exclude(phone="").first()
    assert customer is not None
    login(page, live_server, "manager1")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(detail_value(page, "phone")).to_have_text(customer.masked_phone)
    expect(page.locator("[data-testid=revealed]")).to_have_count(0)
    assert not AuditEntry.objects.filter(action="reveal").exists()

    page.get_by_role("button", name="查看完整信息").click()
    revealed = page.locator("#revealed [data-testid=revealed]")
    expect(revealed).to_contain_text(customer.phone)  # swapped in by htmx, no page load
    expect(revealed).to_contain_text("已记录审计日志")
    expect(page).to_have_url(f"{live_server.url}/customers/{customer.pk}/")

    entry = AuditEntry.objects.get(action="reveal")
    assert entry.actor == users["manager1"]
    assert (entry.object_type, entry.object_id) == ("customer", str(customer.pk))
    assert "phone" in entry.extra["fields"]


def test_salesperson_has_no_reveal_button(page, live_server, users, customers):
    customer = customers.filter(owner=users["sales1"]).first()
    login(page, live_server, "sales1")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("[data-testid=customer-name]")).to_contain_text(customer.name)
    expect(page.get_by_role("button", name="查看完整信息")).to_have_count(0)


def test_follow_up_that_moves_the_stage_is_recorded_under_the_salesperson(
    page, live_server, users, customers
):
    """Every line of the timeline and the history names who did it (no anonymous "已修改 · —")."""
    phone = "13712345678"
    assert not Customer.objects.filter(phone_bidx=blind_index(phone)).exists()
    sales1 = users["sales1"]
    customer = services.customer_create(
        by=sales1,
        data={"customer_type": "individual", "name": "白玉兰", "phone": phone, "stage": "contacted"},
    )
    due = timezone.localtime() + timedelta(days=3)
    login(page, live_server, "sales1")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    follow = page.locator("#follow-ups form")
    follow.locator("#id_way").select_option(label="面谈")
    follow.locator("#id_content").fill("到店面谈，已收身份证复印件和近半年银行流水")
    follow.locator("#id_next_follow_up_at").fill(due.strftime("%Y-%m-%dT%H:%M"))
    follow.locator("#id_stage").select_option(label="资料收集中")
    with page.expect_navigation():
        follow.get_by_role("button", name="保存跟进").click()
    expect(page.get_by_role("alert").filter(has_text="跟进记录已保存")).to_be_visible()
    expect(page.locator("[data-testid=customer-name] .badge")).to_have_text(["个人", "资料收集中"])
    expect(page.locator("main")).to_contain_text(f"下次跟进 {due:%Y-%m-%d %H:%M}")

    entries = page.locator("[data-testid=timeline] li")
    expect(entries.filter(has_text="已收身份证复印件")).to_have_count(1)
    stamps = [t.strip() for t in entries.locator(".text-muted").all_inner_texts()]
    assert stamps and all(s.endswith(sales1.display_name) for s in stamps), stamps

    page.get_by_role("link", name="版本历史").click()
    operators = page.locator("[data-testid=history-table] tbody tr td:nth-child(2)").all_inner_texts()
    assert operators and all(o.strip() == sales1.display_name for o in operators), operators
    stage_row = page.locator("[data-testid=history-table] tbody tr").filter(has_text="当前阶段")
    expect(stage_row).to_have_count(1)
    expect(stage_row.locator("td:nth-child(2)")).to_have_text(sales1.display_name)


def test_salesperson_tags_customers_ticked_in_the_list(page, live_server, users, customers):
    """The actions under the table act on the ticked rows, also when the list has more than one page."""
    login(page, live_server, "sales1")
    open_customers(page, live_server)
    expect(page.locator("#pager-jump")).to_be_visible()  # more than one page: the pager has its jump box
    rows = page.locator(f"{TABLE} tbody tr")
    ids = [rows.nth(i).locator("input[name=ids]").get_attribute("value") for i in range(2)]
    for i in range(2):
        rows.nth(i).locator("input[name=ids]").check()
    page.locator("input[name=tags]").fill("高意向")
    page.get_by_role("button", name="打标签").click()
    expect(page.get_by_role("alert").filter(has_text="已为 2 位客户更新标签")).to_be_visible()
    tagged = Customer.objects.filter(tags__name="高意向")
    assert sorted(str(pk) for pk in tagged.values_list("pk", flat=True)) == sorted(ids)
