"""Cell readers: amounts, dates and identifiers as people type them (property-based where it pays)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loancrm.customers.cleaning import _date, _decimal
from loancrm.imports.values import CellError, cell_value, is_blank_row

amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False)
dates = st.dates(min_value=date(1900, 3, 1), max_value=date(2099, 12, 31))


@given(amounts)
def test_money_as_typed_reads_back_to_the_same_yuan(amount):
    for typed in (f"{amount}", f"{amount:,}元", f"¥{amount:,}", f"{amount / 10000}万", f" {amount} "):
        assert _decimal(cell_value("expected_amount", typed)) == amount, typed


@given(st.integers(min_value=0, max_value=10**9))
def test_money_from_number_cells(yuan):
    assert _decimal(cell_value("monthly_income", float(yuan))) == Decimal(yuan)


@given(dates)
def test_dates_in_every_common_spelling(day):
    typed = [f"{day:%Y-%m-%d}", f"{day.year}/{day.month}/{day.day}", f"{day.year}年{day.month}月{day.day}日",
             f"{day:%Y%m%d}", f"{day:%Y.%m.%d}"]  # fmt: skip
    for text in typed:
        assert _date(cell_value("birth_date", text)) == day, text
    serial = (day - date(1899, 12, 30)).days
    assert cell_value("birth_date", float(serial)) == day


def test_bad_dates_name_the_field():
    with pytest.raises(CellError, match="出生日期"):
        cell_value("birth_date", "下周三")


@given(st.integers(min_value=10**15, max_value=10**18 - 1))
def test_long_numbers_in_number_cells_are_refused_as_lost_digits(number):
    with pytest.raises(CellError, match="存成了数字"):
        cell_value("id_number", float(number))
    with pytest.raises(CellError, match="存成了数字"):
        cell_value("bank_account", float(number))


def test_scientific_text_and_short_numbers():
    with pytest.raises(CellError, match="文本"):
        cell_value("id_number", "6.40104E+17")
    assert cell_value("id_number", 640104900307123.0) == "640104900307123"  # 15 digits survive Excel
    assert cell_value("phone", 13800001234.0) == "13800001234"
    assert cell_value("id_number", " 640104 19900307 123x ") == "64010419900307123x"


@pytest.mark.parametrize(
    ("field", "typed", "expected"),
    [
        ("expected_term_months", "12个月", "12"),
        ("expected_term_months", "2年", "24"),
        ("expected_term_months", "36期", "36"),
        ("acceptable_rate_max", "4.35%", "4.35"),
        ("acceptable_rate_max", 0.0435, "4.35"),
        ("customer_type", "企业", "enterprise"),
        ("customer_type", "个人客户", "individual"),
        ("gender", "女", "female"),
        ("id_type", "身份证", "resident_id"),
        ("product_preferences", "信用贷、车贷,房贷", ["信用贷", "车贷", "房贷"]),
        ("name", "\u3000张三 ", "张三"),
        ("special_notes", None, ""),
    ],
)
def test_typed_values(field, typed, expected):
    assert cell_value(field, typed) == expected


def test_choice_outside_the_list_says_what_is_allowed():
    with pytest.raises(CellError, match="个人、企业"):
        cell_value("customer_type", "政府")


def test_blank_rows():
    assert is_blank_row(["", None, "  ", "\u3000"])
    assert not is_blank_row(["", 0])
    assert is_blank_row([])


@given(
    st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 23), st.integers(0, 59)
)
def test_datetimes_keep_their_minute(day, hour, minute):
    value = cell_value("next_follow_up_at", f"{day:%Y-%m-%d} {hour:02d}:{minute:02d}")
    assert (value.date(), value.hour, value.minute) == (day, hour, minute)
    assert value.tzinfo is not None
    assert cell_value("next_follow_up_at", float((day - date(1899, 12, 30)).days) + 0.5).date() == day
