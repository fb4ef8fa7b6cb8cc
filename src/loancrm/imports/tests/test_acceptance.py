"""Issue 5's acceptance runs, end to end through the engine:

1. a 2,000-row messy sheet (title rows, synonym headers, every way of typing a value) imports with each
   row accepted, normalised or refused for the right reason; the error workbook has exactly the refused
   rows with their own row numbers; a second import of the same file creates nothing;
3. an export (masked, and with full details) re-imports as 0 new customers, with no failed rows.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from python_calamine import CalamineWorkbook

from loancrm.core.crypto import blind_index
from loancrm.customers.models import Customer
from loancrm.customers.validators import resident_id_check_char
from loancrm.exports.services import export_customers_to_file
from loancrm.imports.models import BatchStatus, OnDuplicate, OnError
from loancrm.imports.services import import_batch_configure, import_batch_create, import_batch_run

from .sheets import write_xlsx

pytestmark = pytest.mark.django_db

ROWS = 2000
TITLE_ROWS = 2  # the sheet's own title lines above the header
HEAD = ["序号", "客户姓名", "身份证号码", "联系电话", "出生日期", "月收入(元)", "贷款金额", "贷款期限", "来源", "状态",
        "备注"]  # fmt: skip
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
REFUSED = {13: "存成了数字", 14: "校验位不正确", 15: "手机号码", 18: "出生日期与身份证号码不符"}


@pytest.fixture(autouse=True)
def _private_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def birth(i: int) -> date:
    return date(1960, 1, 1) + timedelta(days=i * 7)


def id_number(i: int) -> str:
    first17 = f"640104{birth(i):%Y%m%d}{i % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def phone(i: int) -> str:
    return f"139{i:08d}"


def excel_serial(day: date) -> int:
    return (day - date(1899, 12, 30)).days


def messy_row(i: int) -> tuple[list, dict]:
    """Row i of the sheet as people type it, and what should become of it."""
    k = i % 20
    b = birth(i)
    cells = [i + 1, f"客户{i}", id_number(i), phone(i), "", "8000", "50000", "12", "抖音", "新线索", ""]
    expect = {"name": f"客户{i}", "id_number": id_number(i), "phone": phone(i), "birth_date": b,
              "monthly_income": Decimal("8000.00"), "expected_amount": Decimal("50000.00"), "channel": "douyin"}  # fmt: skip
    if k == 1:
        cells[3] = f"+86 {phone(i)[:3]} {phone(i)[3:7]} {phone(i)[7:]}"
    elif k == 2:
        cells[3] = f"86-{phone(i)[:3]}-{phone(i)[3:7]}-{phone(i)[7:]}"
    elif k == 3:
        cells[3] = phone(i).translate(FULL_WIDTH)
    elif k == 4:
        cells[6], cells[5] = "3.5万", "1.2万"
        expect["expected_amount"], expect["monthly_income"] = Decimal("35000.00"), Decimal("12000.00")
    elif k == 5:
        cells[6] = "50,000元"
    elif k == 6:
        cells[4] = f"{b.year}/{b.month}/{b.day}"
    elif k == 7:
        cells[4] = f"{b.year}年{b.month}月{b.day}日"
    elif k == 8:
        cells[4] = excel_serial(b)  # a date cell, as Excel stores it
    elif k == 9:
        cells[2] = f" {id_number(i)[:6]} {id_number(i)[6:14]} {id_number(i)[14:].lower()} "
    elif k == 10:
        old = id_number(i)[:6] + id_number(i)[8:17]  # first-generation 15-digit number: upgraded
        cells[2] = old
    elif k == 11:
        cells[1] = f"\u3000 客户{i}（测试） "
        expect["name"] = f"客户{i}（测试）"
    elif k == 12:
        cells[8] = "小红书"  # not in the channel dictionary: kept and flagged, the customer still comes in
        expect["channel"] = ""
        expect["unmapped_values"] = {"channel": "小红书"}
    elif k == 13:
        cells[2] = float(id_number(i)[:15] + "000")  # Excel turned the ID into 6.40104…E+17
    elif k == 14:
        right = id_number(i)[-1]
        cells[2] = id_number(i)[:-1] + ("0" if right != "0" else "1")
    elif k == 15:
        cells[3] = "1380013"
    elif k == 16:
        return [None] * len(HEAD), {"blank": True}
    elif k == 17:
        j = i - 17  # the same person as row j (ID and phone): a duplicate inside the file
        cells[2], cells[3], cells[1] = id_number(j), phone(j), f"客户{j}"
        return cells, {"duplicate_of": j}
    elif k == 18:
        cells[4] = (b + timedelta(days=1)).isoformat()
    if k in REFUSED:
        return cells, {"refused": REFUSED[k]}
    return cells, expect


def run(user, path, on_duplicate=OnDuplicate.SKIP):
    batch = import_batch_create(by=user, file=path, original_name=path.name)
    batch = import_batch_configure(
        by=user, batch=batch, mapping=batch.mapping, on_duplicate=on_duplicate, on_error=OnError.SKIP_ROWS,
        use_owner_column=True, default_owner=None,
    )  # fmt: skip
    return import_batch_run(batch_id=batch.pk, dry_run=False)


def test_two_thousand_messy_rows(users, tmp_path):
    rows, expected = [HEAD], {}
    for i in range(ROWS):
        cells, expect = messy_row(i)
        rows.append(cells)
        expected[i] = expect
    sheet = write_xlsx(tmp_path / "台账.xlsx", rows, title_rows=TITLE_ROWS)
    sheet_row = {i: TITLE_ROWS + 2 + i for i in range(ROWS)}  # header on row 3, data from row 4

    batch = run(users["sales1"], sheet)
    assert batch.status == BatchStatus.DONE and batch.header_row == TITLE_ROWS + 1
    per_case = ROWS // 20
    assert batch.counts == {"total": ROWS - per_case, "created": ROWS - 6 * per_case,
                            "skipped_duplicates": per_case, "failed": 4 * per_case, "blank": per_case,
                            "updated": 0, "flagged": per_case}  # fmt: skip

    accepted = {i: e for i, e in expected.items() if "name" in e}
    found = {c.id_number: c for c in Customer.objects.filter(data_source="import")}
    assert len(found) == len(accepted)
    for i, expect in accepted.items():
        customer = found[expect["id_number"]]
        for field, value in expect.items():
            assert getattr(customer, field) == value, (i, field)
        assert customer.owner == users["sales1"] and customer.stage == "new"

    book = CalamineWorkbook.from_path(batch.errors_path).get_sheet_by_index(0).to_python()
    assert book[0] == [*HEAD, "原行号", "错误原因"]
    refused = {i: e["refused"] for i, e in expected.items() if "refused" in e}
    assert [int(r[-2]) for r in book[1:]] == [sheet_row[i] for i in sorted(refused)]
    for r, i in zip(book[1:], sorted(refused), strict=True):
        assert refused[i] in r[-1], (i, r[-1])
        assert r[1] == f"客户{i}"  # the row as it was, ready to fix and import again

    again = run(users["sales1"], sheet)
    assert again.counts["created"] == 0 and again.counts["failed"] == 4 * per_case
    assert Customer.objects.filter(data_source="import").count() == len(accepted)


@pytest.mark.parametrize("reveal", [False, True], ids=["masked", "full"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_reimports_as_nothing_new(users, customers, tmp_path, fmt, reveal):
    manager = users["admin"] if reveal else users["manager1"]
    path = tmp_path / f"export.{fmt}"
    exported = export_customers_to_file(by=manager, filters={}, fmt=fmt, reveal=reveal, path=path)
    before = Customer.objects.count()
    batch = run(manager, path)
    assert batch.counts["total"] == exported and batch.counts["created"] == 0
    assert batch.counts["failed"] == 0, batch.errors_sample
    assert batch.counts["skipped_duplicates"] == exported and Customer.objects.count() == before


def test_edited_export_updates_the_customers_it_names(users, customers, tmp_path):
    """Export (masked), change a cell in Excel, import with 覆盖: the named customer changes, only there."""
    manager = users["manager1"]
    path = tmp_path / "export.xlsx"
    export_customers_to_file(by=manager, filters={}, fmt="xlsx", reveal=False, path=path)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    head = rows[0]
    first = rows[1]
    first[head.index("职业")] = "中学教师"
    assert "*" in first[head.index("手机号码")]
    write_xlsx(tmp_path / "edited.xlsx", [head, first])
    customer = Customer.objects.get(customer_no=first[head.index("客户编号")])
    phone_before = customer.phone
    batch = run(manager, tmp_path / "edited.xlsx", on_duplicate=OnDuplicate.OVERWRITE)
    assert batch.counts["updated"] == 1 and batch.counts["failed"] == 0, batch.errors_sample
    customer.refresh_from_db()
    assert customer.occupation == "中学教师" and customer.phone == phone_before  # the mask changed nothing
    assert Customer.objects.filter(phone_bidx=blind_index(phone_before)).count() == 1


def test_masked_values_without_a_customer_number_are_refused_with_why(users, tmp_path):
    sheet = write_xlsx(tmp_path / "m.xlsx", [["姓名", "手机号码"], ["甲", "138****5678"]])
    batch = run(users["sales1"], sheet)
    assert batch.counts["failed"] == 1
    assert "脱敏" in batch.errors_sample[0]["message"]
