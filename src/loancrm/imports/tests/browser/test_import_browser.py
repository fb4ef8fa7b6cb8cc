"""Import as a salesperson does it: upload a messy sheet → check the mapping → dry run → fix the mapping
→ import → download the refused rows → fix them in the workbook and import that → undo the first batch.

Huey runs tasks at once here (imports/tests/conftest.py), so each run finishes inside its request.
"""

import pytest
from playwright.sync_api import expect
from python_calamine import CalamineWorkbook

from loancrm.customers.models import Customer
from loancrm.customers.tests.browser.test_login_browser import login
from loancrm.imports.models import BatchStatus, ImportBatch

from ..sheets import resident_id, write_xlsx

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

ID_A = resident_id("64010419900307123")
ID_B = resident_id("64010419850101224")
ID_C = resident_id("64020219920202331")
BAD_ID = ID_C[:-1] + ("0" if ID_C[-1] != "0" else "1")  # one wrong check character
SHEET = [
    ["2026年11月 抖音渠道客户台账"],
    ["序号", "客户姓名", "身份证号码", "客户手机", "贷款金额", "来源", "备注"],
    [1, "张晓明", ID_A, "+86 138 0000 1001", "5万", "抖音", "老客户介绍"],
    [2, "李红", ID_B, "139-0000-1002", "3.5万", "抖音", ""],
    [None, None, None, None, None, None, None],
    [3, "王强", BAD_ID, "13700001003", "50,000元", "抖音", "证件待核"],
]


def count(page, name: str) -> str:
    return page.locator(f"[data-testid=import-counts] [data-count={name}]").inner_text()


def test_upload_map_dry_run_fix_import_errors_undo(page, live_server, users, tmp_path):
    sheet = write_xlsx(tmp_path / "抖音台账.xlsx", SHEET)
    login(page, live_server, "sales1")
    page.goto(live_server.url + "/customers/")
    page.get_by_test_id("import-link").click()
    expect(page.locator("h1")).to_have_text("导入客户")

    # 1. Upload: the header is found below the title row, columns mapped by their names.
    page.get_by_label("客户表格").set_input_files(sheet)
    with page.expect_navigation():
        page.get_by_role("button", name="上传并识别列").click()
    expect(page.get_by_text("表头在第 2 行")).to_be_visible()
    expect(page.get_by_label("客户姓名")).to_have_value("name")
    expect(page.get_by_label("身份证号码")).to_have_value("id_number")
    expect(page.get_by_label("客户手机")).to_have_value("")  # not a known header: left for the user
    page.screenshot(path=tmp_path / "import-mapping.png", full_page=True)

    # 2. Dry run as it is: every row lacks the required phone, nothing is written.
    with page.expect_navigation():
        page.get_by_test_id("dry-run").click()
    expect(page.get_by_text("试导入结果（未写入任何数据）")).to_be_visible()
    assert count(page, "failed") == "3" and count(page, "created") == "0" and count(page, "blank") == "1"
    expect(page.get_by_test_id("error-table")).to_contain_text("请填写手机号码")
    assert not Customer.objects.filter(name="张晓明").exists()

    # 3. Fix: map 客户手机 to 手机号码 and dry-run again: two rows are fine, 王强's ID is refused.
    page.get_by_label("客户手机").select_option(label="手机号码")
    with page.expect_navigation():
        page.get_by_test_id("dry-run").click()
    assert count(page, "created") == "2" and count(page, "failed") == "1"
    errors = page.get_by_test_id("error-table")
    expect(errors).to_contain_text("第 6 行")
    expect(errors).to_contain_text("校验位不正确")

    # 4. Import for real.
    with page.expect_navigation():
        page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("batch-status").first).to_have_attribute("data-status", "done")
    assert count(page, "created") == "2"
    first = ImportBatch.objects.get()
    zhang = Customer.objects.get(name="张晓明")
    assert zhang.phone == "13800001001" and zhang.expected_amount == 50000 and zhang.owner == users["sales1"]
    page.screenshot(path=tmp_path / "import-done.png", full_page=True)

    # 5. Download the refused rows: exactly 王强's row, as it was, with its row number and reason.
    with page.expect_download() as info:
        page.get_by_test_id("errors-download").click()
    rows = CalamineWorkbook.from_path(info.value.path()).get_sheet_by_index(0).to_python()
    assert rows[0][-2:] == ["原行号", "错误原因"]
    assert len(rows) == 2 and rows[1][1] == "王强" and rows[1][2] == BAD_ID and int(rows[1][-2]) == 6

    # 6. Fix the ID in the downloaded workbook and import it: 王强 arrives, nobody twice.
    fixed = [rows[0], [*rows[1][:2], ID_C, *rows[1][3:]]]
    write_xlsx(tmp_path / "改好的.xlsx", fixed)
    page.goto(live_server.url + "/imports/")
    page.get_by_label("客户表格").set_input_files(tmp_path / "改好的.xlsx")
    with page.expect_navigation():
        page.get_by_role("button", name="上传并识别列").click()
    page.get_by_label("客户手机").select_option(label="手机号码")
    with page.expect_navigation():
        page.get_by_test_id("start-import").click()
    assert count(page, "created") == "1" and count(page, "failed") == "0"
    assert Customer.objects.filter(name__in=["张晓明", "李红", "王强"]).count() == 3

    # 7. Undo the first batch: its two customers go, the second batch's stays.
    page.goto(f"{live_server.url}/imports/{first.pk}/")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_test_id("undo").click()
    expect(page.get_by_test_id("undone")).to_contain_text("删除新建的客户 2 位")
    first.refresh_from_db()
    assert first.status == BatchStatus.UNDONE
    assert list(
        Customer.objects.filter(name__in=["张晓明", "李红", "王强"]).values_list("name", flat=True)
    ) == ["王强"]

    page.goto(live_server.url + "/imports/")
    expect(page.locator("[data-testid=batch-table] tbody tr")).to_have_count(2)
