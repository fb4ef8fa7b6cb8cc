"""Cell values as people type them → the raw values `clean_customer_data` takes.

Everything that is a matter of spreadsheets (Excel number cells, date serials, 5万, ¥, 12个月, labels of
choices) is handled here; everything that is a matter of customers (ID check characters, phones, the
dictionaries) stays in customers.cleaning, the one validation path shared with the form and the API.
"""

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from loancrm.customers.models import CustomerType, Gender, IdType

from .columns import (
    BY_FIELD,
    CHOICE,
    DATE,
    DATETIME,
    DICT,
    INT,
    KEY,
    LIST,
    MONEY,
    OWNER,
    RATE,
    SENSITIVE,
    TEXT,
)

EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug already accounted for)
_SCIENTIFIC = re.compile(r"^[0-9.]+e\+?[0-9]+$", re.IGNORECASE)
_SPACES = re.compile(r"[\s\u3000\u00a0]+")

CHOICE_LABELS: dict[str, dict[str, str]] = {
    "customer_type": {
        **{str(label): code for code, label in CustomerType.choices},
        **{code: code for code in CustomerType.values},
        "个人客户": CustomerType.INDIVIDUAL,
        "企业客户": CustomerType.ENTERPRISE,
        "公司": CustomerType.ENTERPRISE,
        "对公": CustomerType.ENTERPRISE,
        "对私": CustomerType.INDIVIDUAL,
    },
    "gender": {
        **{str(label): code for code, label in Gender.choices},
        **{code: code for code in Gender.values},
        "男性": Gender.MALE,
        "女性": Gender.FEMALE,
        "m": Gender.MALE,
        "f": Gender.FEMALE,
    },
    "id_type": {
        **{str(label): code for code, label in IdType.choices},
        **{code: code for code in IdType.values},
        "身份证": IdType.RESIDENT_ID,
        "二代身份证": IdType.RESIDENT_ID,
        "港澳通行证": IdType.HK_MACAO_PERMIT,
        "台胞证": IdType.TAIWAN_PERMIT,
        "外国人永久居留证": IdType.FOREIGN_PR,
    },
}


class CellError(ValueError):
    """A cell that cannot be read; the message names the problem and how to fix it."""


def _number_text(value: float | int) -> str:
    """13800001234.0 → '13800001234'; 3.5 → '3.5' (Excel keeps every number as a float)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _excel_date(value: float) -> datetime:
    return datetime.combine(EXCEL_EPOCH, time()) + timedelta(days=value)


def _lost_digits_message(label: str) -> str:
    return _(
        "“%(field)s”在 Excel 中被存成了数字（如 6.40104E+17），后几位已丢失，无法还原。"
        "请在 Excel 中把该列设置为“文本”格式，重新输入完整号码后再导入。"
    ) % {"field": label}


_PLAIN_TEXT_KINDS = {TEXT, DICT, OWNER, KEY}


def converter(field: str):
    """The cell reader for one column: plain text columns get a short path (most cells are text)."""
    if BY_FIELD[field].kind in _PLAIN_TEXT_KINDS:

        def text_cell(value: Any, _field=field) -> Any:
            if value.__class__ is str:
                return value.strip().strip("\u3000\u00a0").strip()
            return cell_value(_field, value)

        return text_cell
    return lambda value, _field=field: cell_value(_field, value)


def cell_value(field: str, value: Any) -> Any:
    """One cell → a raw value for clean_customer_data ('' for blank); raises CellError."""
    column = BY_FIELD[field]
    kind = column.kind
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, str):
        value = value.strip().strip("\u3000\u00a0").strip()
        if value == "":
            return ""

    if kind == SENSITIVE:
        if isinstance(value, float | int):
            digits = _number_text(value)
            # Excel keeps 15 significant digits: an 18-digit ID or a 16–19-digit card lost its tail.
            if field in ("id_number", "bank_account") and (len(digits) > 15 or "e" in digits.lower()):
                raise CellError(_lost_digits_message(column.header))
            return digits
        text = str(value)
        if field in ("id_number", "bank_account") and _SCIENTIFIC.match(text.replace(" ", "")):
            raise CellError(_lost_digits_message(column.header))
        return _SPACES.sub("", text) if field in ("id_number", "bank_account") else text

    if kind in (DATE, DATETIME):
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime.combine(value, time())
        elif isinstance(value, float | int) or (
            isinstance(value, str) and value.replace(".", "", 1).isdigit() and len(value) <= 6
        ):
            number = float(value)
            if number.is_integer() and 19000101 <= number <= 99991231:  # 20260305 typed without dashes
                return cell_value(field, str(int(number)))
            if not 1 <= number < 2958466:  # 9999-12-31
                raise CellError(_("“%(field)s”不是有效日期") % {"field": column.header})
            parsed = _excel_date(number)
        else:
            parsed = _parse_date_text(str(value), column.header, with_time=kind == DATETIME)
        if kind == DATE:
            return parsed.date()
        return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed

    if kind == MONEY:
        text = _number_text(value) if isinstance(value, float | int) else str(value)
        return unicodedata.normalize("NFKC", text).replace("¥", "").replace("RMB", "").replace(" ", "")

    if kind == RATE:
        text = _number_text(value) if isinstance(value, float | int) else str(value)
        text = unicodedata.normalize("NFKC", text).replace("%", "").strip()
        # 0.0435 typed as a fraction means 4.35 %.
        try:
            if 0 < float(text) < 1:
                text = str(round(float(text) * 100, 4))
        except ValueError:
            pass
        return text

    if kind == INT:
        text = (
            _number_text(value)
            if isinstance(value, float | int)
            else unicodedata.normalize("NFKC", str(value))
        )
        text = text.replace(" ", "")
        for suffix in ("个月", "月", "期", "次"):
            if text.endswith(suffix):
                text = text[: -len(suffix)]
        if text.endswith("年") and text[:-1].isdigit():
            text = str(int(text[:-1]) * 12)
        return text

    if kind == CHOICE:
        text = _number_text(value) if isinstance(value, float | int) else str(value)
        key = unicodedata.normalize("NFKC", text).strip().lower()
        labels = CHOICE_LABELS[field]
        if key in labels:
            return labels[key]
        if text in labels:
            return labels[text]
        raise CellError(
            _("“%(value)s”不是“%(field)s”的可选值（可填：%(choices)s）")
            % {
                "value": text,
                "field": column.header,
                "choices": "、".join(
                    str(label)
                    for _c, label in {
                        "customer_type": CustomerType.choices,
                        "gender": Gender.choices,
                        "id_type": IdType.choices,
                    }[field]
                ),
            }
        )

    if kind == LIST:
        text = str(value)
        return [p.strip() for p in re.split(r"[、,，;；/]", text) if p.strip()]

    if isinstance(value, float | int):
        return _number_text(value)
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _parse_date_text(text: str, label: str, *, with_time: bool) -> datetime:
    if len(text) == 10 and text[4] == "-":
        try:
            return datetime.fromisoformat(text)  # 2026-03-05, the common case, fast
        except ValueError:
            pass
    s = unicodedata.normalize("NFKC", text).strip()
    s = s.replace("年", "-").replace("月", "-").replace("日", " ").replace("号", " ").strip()
    s = re.sub(r"\s+", " ", s)
    formats = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
    if with_time:
        formats = [f + t for f in formats for t in (" %H:%M:%S", " %H:%M")] + formats
    for fmt in formats:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    raise CellError(_("“%(field)s”不是有效日期，请按 2026-03-05 的格式填写") % {"field": label})


def is_blank_row(cells: list) -> bool:
    for c in cells:
        if c is None or c == "":
            continue
        if isinstance(c, str) and not c.strip(" \t\r\n\u3000\u00a0"):
            continue
        return False
    return True
