"""The blank import template (导入模板.xlsx): the importer's headers, one example row, notes, and a
drop-down list (data validation) on every column whose values come from a list (seed 002 下拉菜单)."""

import io

import xlsxwriter
from django.contrib.auth.decorators import login_required

from loancrm.accounts.access import require_perm
from loancrm.accounts.permissions import Perm
from loancrm.core.downloads import xlsx_response
from loancrm.customers.fields import DICTIONARY_FIELDS
from loancrm.dictionaries.selectors import dictionary_labels

from .columns import CHOICE, DATE, DATETIME, DICT, INT, MONEY, OWNER, SENSITIVE, TEMPLATE_COLUMNS
from .values import CHOICE_LABELS

DATA_ROWS = 5000  # rows below the header that carry the drop-downs and text formats
REQUIRED = {"name", "phone"}
NOTES = {
    SENSITIVE: "文本格式：证件号码、银行卡号请勿存成数字，否则后几位会丢失",
    MONEY: "金额，可写 50000、5万、3.5万、50,000元",
    DATE: "日期，如 2026-03-05、2026/3/5、2026年3月5日",
    DATETIME: "日期时间，如 2026-03-05 14:30",
    INT: "整数",
    OWNER: "业务员的用户名或姓名；留空则归导入人",
}


def _choices(field: str) -> list[str]:
    if field in DICTIONARY_FIELDS:
        return list(dictionary_labels(DICTIONARY_FIELDS[field], active_only=True).values())
    if field in CHOICE_LABELS:
        from loancrm.customers.models import CustomerType, Gender, IdType

        return [str(label) for _c, label in {"customer_type": CustomerType.choices, "gender": Gender.choices,
                                               "id_type": IdType.choices}[field]]  # fmt: skip
    return []


def build_blank_template() -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("客户")
    lists = book.add_worksheet("可选值")
    notes = book.add_worksheet("填写说明")
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
    head_required = book.add_format({"bold": True, "bg_color": "#F8CBAD", "border": 1})
    text = book.add_format({"num_format": "@"})
    example = book.add_format({"num_format": "@", "font_color": "#7F7F7F", "italic": True})

    for col, column in enumerate(TEMPLATE_COLUMNS):
        sheet.write_string(0, col, column.header, head_required if column.field in REQUIRED else head)
        sheet.set_column(col, col, max(column.width, len(column.header) * 2 + 2), text)
        if column.example:
            sheet.write_string(1, col, column.example, example)
        choices = _choices(column.field) if column.kind in (DICT, CHOICE) else []
        if choices:
            lists.write_string(0, col, column.header, head)
            for r, label in enumerate(choices, start=1):
                lists.write_string(r, col, label)
            letter = xlsxwriter.utility.xl_col_to_name(col)
            sheet.data_validation(1, col, DATA_ROWS, col, {
                "validate": "list",
                "source": f"='可选值'!${letter}$2:${letter}${len(choices) + 1}",
                # Dictionaries grow: a new value is kept and flagged for an admin, so only warn.
                "error_type": "warning" if column.kind == DICT else "stop",
                "error_title": "不在可选值中",
                "error_message": f"“{column.header}”请从下拉列表中选择；新值导入后会标记给管理员确认。",
            })  # fmt: skip
        note = NOTES.get(column.kind)
        if note:
            sheet.write_comment(0, col, note)
    sheet.freeze_panes(1, 1)
    lists.hide()

    notes.set_column(0, 0, 100)
    for r, line in enumerate(
        [
            "客户导入模板填写说明",
            "1. 第一行是表头，请勿修改；第二行灰色斜体为示例，导入前请删除或覆盖。",
            "2. 红色表头为必填：个人客户填写姓名和手机号码；企业客户填写名称和统一社会信用代码。",
            "3. 证件号码、银行卡号、手机号码列已设置为文本格式，请直接输入或粘贴为“值”。",
            "4. 带下拉箭头的列请从列表中选择；渠道、阶段等新值会被保留并提示管理员映射。",
            "5. 已在系统中的客户（证件号码、手机号码或统一社会信用代码相同）按导入时的选择跳过或更新。",
            "6. 也可以直接上传自己的表格：系统会按表头自动对应列，对应关系可以调整并保存为模板。",
        ]
    ):
        notes.write_string(r, 0, line, head if r == 0 else None)
    book.close()
    return buffer.getvalue()


@login_required
def blank_template(request):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    return xlsx_response(build_blank_template(), filename="客户导入模板.xlsx")


def build_example_sheet(seed: int = 0) -> bytes:
    """A small agency ledger as they arrive: a title row, synonym headers, numbers typed every way,
    a blank row, one new channel and two rows to fix — to try the wizard with (demo and training)."""
    import random

    from loancrm.customers.validators import resident_id_check_char

    def rid(first17: str) -> str:
        return first17 + resident_id_check_char(first17)

    rng = random.Random(seed)
    surnames, given = "王李张刘陈杨赵黄周吴马", "伟芳敏静强磊军洋艳杰娟涛明超霞"
    stamp = rng.randrange(10_000_000)
    phones = [
        "+86 139 {0:04d} {1:04d}",
        "86-137-{0:04d}-{1:04d}",
        "１３６{0:04d}{1:04d}",
        "135 {0:04d} {1:04d}",
    ]
    amounts = ["5万", "3.5万", "50,000元", "80000", "12万"]
    rows = []
    for i in range(18):
        birth = f"19{70 + i}0{1 + i % 9}1{i % 9}"
        idn = rid(f"640104{birth}{(stamp + i) % 1000:03d}")
        rows.append([
            i + 1, rng.choice(surnames) + rng.choice(given) + rng.choice(given), idn,
            phones[i % 4].format((stamp // 10 + i) % 10_000, (stamp + 7 * i) % 10_000),
            f"{rng.randint(4, 20)},000", amounts[i % 5], rng.choice(["12", "24", "36"]),
            "小红书" if i == 5 else rng.choice(["抖音", "老客户转介绍", "门店到访"]), "新线索", "",
        ])  # fmt: skip
    rows[3][2] = rows[3][2][:-1] + ("0" if rows[3][2][-1] != "0" else "1")  # a typo in the check character
    rows[3][9] = "证件号最后一位录错了"
    rows[8][3] = "1380013"  # a phone number missing digits
    rows[8][9] = "手机号少了几位"
    rows.insert(10, [""] * 10)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("客户台账")
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
    sheet.write_string(0, 0, "2026年客户台账（示例）", title)
    headers = [
        "序号",
        "客户姓名",
        "身份证号码",
        "联系电话",
        "月收入(元)",
        "贷款金额",
        "贷款期限",
        "来源",
        "状态",
        "备注",
    ]
    sheet.write_row(2, 0, headers, head)
    for r, row in enumerate(rows, start=3):
        for c, value in enumerate(row):
            if isinstance(value, int):
                sheet.write_number(r, c, value)
            elif value:
                sheet.write_string(r, c, value)
    sheet.set_column(0, len(headers) - 1, 16)
    book.close()
    return buffer.getvalue()


@login_required
def example_sheet(request):
    require_perm(request.user, Perm.CUSTOMER_IMPORT, path=request.path)
    return xlsx_response(build_example_sheet(), filename="示例客户台账.xlsx")
