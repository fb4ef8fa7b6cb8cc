"""Identifier validators: table-driven examples plus Hypothesis properties.

Check characters are recomputed here with independent implementations (different
formulas from the module's) so a shared mistake cannot make both sides agree.
"""

import datetime
import random

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from loancrm.customers.validators import (
    mask_bank_card,
    mask_id_number,
    mask_phone,
    normalize_bank_card,
    normalize_email,
    normalize_mobile,
    normalize_resident_id,
    normalize_uscc,
    resident_id_birth_date,
    resident_id_check_char,
    resident_id_gender,
    to_halfwidth,
    uscc_check_char,
)

PROPERTY = settings(max_examples=200, deadline=None)

# --- independent reference implementations ---------------------------------


def ref_id_check(first17: str) -> str:
    """ISO 7064 MOD 11-2 written from the standard's definition: weight_i = 2^(18-i) mod 11, check = (12 - S mod 11) mod 11."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    check = (12 - total % 11) % 11
    return "X" if check == 10 else str(check)


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ref_uscc_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_ALPHABET[-total % 31]


def ref_luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(digits[::-1]):
        n = int(d) * (2 if i % 2 else 1)
        total += sum(int(x) for x in str(n))
    return total % 10 == 0


def ref_luhn_digit(body: str) -> str:
    (digit,) = [d for d in "0123456789" if ref_luhn_ok(body + d)]
    return digit


def fullwidth(text: str) -> str:
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.fixture(autouse=True)
def _chinese():
    """Messages are checked in the source language, whatever an earlier test left active."""
    with translation.override("zh-hans"):
        yield


def refused(func, value, code: str) -> str:
    """Assert ``func(value)`` raises ValidationError with ``code``; return the (Chinese) message."""
    try:
        result = func(value)
    except ValidationError as error:
        assert error.code == code, (value, error.code, error.messages)
        (message,) = error.messages
        return message
    raise AssertionError(f"{func.__name__}({value!r}) accepted the value as {result!r}")


REGIONS = [
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
    "71",
    "81",
    "82",
    "83",
]
YESTERDAY = datetime.date.today() - datetime.timedelta(days=1)


def make_id(prefix6: str, born: str, seq3: str) -> str:
    first17 = prefix6 + born + seq3
    return first17 + ref_id_check(first17)


# --- to_halfwidth -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２３ＡＢＣａｂｃ", "123ABCabc"),
        ("\u3000１３８\u3000１２３４\u3000", "138 1234"),
        ("＋８６（１３８）－１２３４", "+86(138)-1234"),
        ("张三＠ｅｘａｍｐｌｅ．ｃｏｍ", "张三@example.com"),
        ("  plain  ", "plain"),
        ("", ""),
        ("～！", "~!"),
    ],
)
def test_to_halfwidth(raw, expected):
    assert to_halfwidth(raw) == expected


@PROPERTY
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_to_halfwidth_undoes_fullwidth(text):
    assert to_halfwidth(fullwidth(text)) == text.strip()


@PROPERTY
@given(st.text())
def test_to_halfwidth_leaves_no_fullwidth_ascii(text):
    out = to_halfwidth(text)
    assert not any("\uff01" <= c <= "\uff5e" or c == "\u3000" for c in out)
    assert to_halfwidth(out) == out


# --- resident ID: examples --------------------------------------------------

VALID_ID = make_id("640104", "19900101", "123")  # built with the test's own check function


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),  # the example printed in GB 11643-1999
        ("11010519491231002x", "11010519491231002X"),  # lower-case x
        ("110105 19491231 002x", "11010519491231002X"),  # spaces anywhere
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # full-width
        ("\u3000110105194912310 02X ", "11010519491231002X"),
        ("110105491231002", "11010519491231002X"),  # 15-digit first-generation number, same person
        ("130503670401001", "130503196704010016"),
        (VALID_ID, VALID_ID),
        (make_id("710000", "20000229", "001"), make_id("710000", "20000229", "001")),  # leap day, Taiwan
        (make_id("810000", "19000101", "002"), make_id("810000", "19000101", "002")),  # earliest year
        (make_id("830000", "19851231", "003"), make_id("830000", "19851231", "003")),
    ],
)
def test_resident_id_accepted(raw, expected):
    assert normalize_resident_id(raw) == expected
    assert normalize_resident_id(expected) == expected


def test_resident_id_wrong_check_char_does_not_give_the_answer():
    wrong = "11010519491231002" + "1"
    message = refused(normalize_resident_id, wrong, "invalid_checksum")
    assert message == "身份证号码校验位不正确，请对照证件逐位核对后重新输入"
    bad = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    # The message does not give away the right check character (it would hide a typo elsewhere).
    assert VALID_ID[17] not in refused(normalize_resident_id, bad, "invalid_checksum").replace("逐位", "")


@pytest.mark.parametrize(
    "region", ["99", "00", "10", "16", "20", "24", "30", "38", "47", "55", "60", "66", "72", "84"]
)
def test_resident_id_bad_region(region):
    raw = make_id(region + "0104", "19900101", "123")
    assert refused(normalize_resident_id, raw, "invalid_region") == "身份证号码地区码不正确"
    assert refused(normalize_resident_id, raw[:6] + raw[8:17], "invalid_region")  # 15-digit too


@pytest.mark.parametrize(
    "born",
    [
        "19900230",  # Feb 30
        "19000229",  # 1900 was not a leap year
        "19901301",  # month 13
        "19900001",  # month 0
        "19900100",  # day 0
        "19900431",  # April 31
        "18991231",  # before 1900
        "18800101",  # GB 11643's second example, 440524188001010014, is before 1900
        f"{datetime.date.today().year + 1}0101",  # in the future
        "99991231",
    ],
)
def test_resident_id_bad_birth_date(born):
    raw = make_id("640104", born, "123")
    assert refused(normalize_resident_id, raw, "invalid_birth_date") == "身份证号码中的出生日期不正确"


def test_resident_id_bad_birth_date_15_digits():
    refused(normalize_resident_id, "640104900230123", "invalid_birth_date")  # 1990-02-30


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        VALID_ID[:17],  # 17 characters
        VALID_ID + "1",  # 19 characters
        "11010519491231002XX",
        "1101051949123100X2",  # X not last
        "11010549123100X",  # X in a 15-digit number
        "1101054912310",
        "11010519491231002Y",
        "11010519491231002-",
        "110105-19491231-002X",  # dashes are not accepted
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits are not ASCII digits
        "abcdefghijklmnopqr",
    ],
)
def test_resident_id_bad_format(raw):
    message = refused(normalize_resident_id, raw, "invalid")
    assert message == "身份证号码应为 18 位（最后一位可为 X）或 15 位数字"


def test_resident_id_birth_date_and_gender():
    assert resident_id_birth_date("11010519491231002X") == datetime.date(1949, 12, 31)
    assert resident_id_gender("11010519491231002X") == "female"  # 17th digit 2
    assert resident_id_gender("130503196704010016") == "male"  # 17th digit 1
    assert resident_id_birth_date("110105491231002") == datetime.date(1949, 12, 31)
    assert resident_id_gender(make_id("640104", "19900101", "127")) == "male"
    assert resident_id_gender(make_id("640104", "19900101", "120")) == "female"


def test_resident_id_check_char_examples_and_bad_input():
    assert resident_id_check_char("11010519491231002") == "X"
    assert resident_id_check_char("13050319670401001") == "6"
    for bad in [
        "",
        "1101051949123100",
        "110105194912310021",
        "1101051949123100X",
        "１１０１０５１９４９１２３１００２",
    ]:
        with pytest.raises(ValueError):
            resident_id_check_char(bad)


# --- resident ID: properties ------------------------------------------------


@st.composite
def resident_ids(draw, min_date=datetime.date(1900, 1, 1), max_date=YESTERDAY):
    region = draw(st.sampled_from(REGIONS))
    area = draw(st.text("0123456789", min_size=4, max_size=4))
    born = draw(st.dates(min_value=min_date, max_value=max_date))
    seq = draw(st.text("0123456789", min_size=3, max_size=3))
    return make_id(region + area, born.strftime("%Y%m%d"), seq)


# Decorations are driven by a Hypothesis-drawn seed: one draw per example keeps the file fast.
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def decorate(seed: int, text: str, separators: list[str]) -> str:
    """Randomly make characters full-width and insert separators between them."""
    rng = random.Random(seed)
    return "".join((fullwidth(c) if rng.random() < 0.5 else c) + rng.choice(separators) for c in text)


def decorate_id(seed: int, id18: str) -> str:
    rng = random.Random(seed)
    text = id18.lower() if rng.random() < 0.5 else id18
    return rng.choice(["", " ", "\u3000"]) + decorate(seed, text, ["", "", "", " ", "\u3000", "\t"])


@PROPERTY
@given(resident_ids(), seeds)
def test_property_resident_id_accepted_and_round_trips(id18, seed):
    assert normalize_resident_id(id18) == id18
    assert normalize_resident_id(decorate_id(seed, id18)) == id18
    born = resident_id_birth_date(id18)
    assert born.strftime("%Y%m%d") == id18[6:14]
    assert resident_id_gender(id18) == ("male" if int(id18[16]) % 2 else "female")
    assert resident_id_check_char(id18[:17]) == id18[17]


@PROPERTY
@given(resident_ids())
def test_property_resident_id_any_other_check_char_refused(id18):
    for other in "0123456789Xx":
        if other.upper() != id18[17]:
            message = refused(normalize_resident_id, id18[:17] + other, "invalid_checksum")
            assert "校验位不正确" in message


@PROPERTY
@given(resident_ids(max_date=datetime.date(1999, 12, 31)))
def test_property_resident_id_15_digit_upgrade(id18):
    id15 = id18[:6] + id18[8:17]
    assert normalize_resident_id(id15) == id18


@PROPERTY
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=25))
def test_property_resident_id_idempotent(raw):
    try:
        once = normalize_resident_id(raw)
    except ValidationError:
        return
    assert len(once) == 18
    assert normalize_resident_id(once) == once


# --- mobile: examples -------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        " 13812345678 ",
        "138 1234 5678",
        "138-1234-5678",
        "138.1234.5678",
        "(138) 1234-5678",
        "（１３８）１２３４－５６７８",
        "１３８１２３４５６７８",
        "１３８\u3000１２３４\u3000５６７８",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "+86.138.1234.5678",
        "(+86)13812345678",
        "(+86) 138-1234-5678",
        "（＋８６）１３８１２３４５６７８",
        "＋８６　１３８　１２３４　５６７８",
        "8613812345678",
        "86 138 1234 5678",
        "0086 138 1234 5678",
        "0086-13812345678",
        "００８６１３８１２３４５６７８",
        "138\u20141234\u20135678",  # em and en dashes from a word processor
    ],
)
def test_mobile_accepted_shapes(raw):
    assert normalize_mobile(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    ["13000000000", "14500000000", "15912345678", "16612345678", "17012345678", "18888888888", "19912345678"],
)
def test_mobile_accepted_prefixes(raw):
    assert normalize_mobile(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12812345678",  # second digit 2
        "11812345678",
        "23812345678",  # does not start with 1
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "138abcd5678",
        "+85213812345678",  # Hong Kong country code
        "+1 138 1234 5678",
        "+86 1381234567",
        "0086 0138 1234 5678",
        "086 138 1234 5678",
        "+8686 13812345678",
        "13812345678-123",  # extension
        "138_1234_5678",
        "138/1234/5678",
        "٠١٣٨١٢٣٤٥٦٧٨",
    ],
)
def test_mobile_refused(raw):
    assert refused(normalize_mobile, raw, "invalid") == "手机号码应为 11 位、以 1 开头的中国大陆手机号"


# --- mobile: properties -----------------------------------------------------

COUNTRY_CODES = [
    "",
    "",
    "+86",
    "+86 ",
    "+86-",
    "(+86)",
    "(+86) ",
    "86",
    "86 ",
    "86-",
    "0086",
    "0086 ",
    "0086-",
]


def decorate_phone(seed: int, digits: str) -> str:
    """Country code, "(138)" parentheses, separators between digits, full-width characters, outer spaces."""
    rng = random.Random(seed)
    if len(digits) > 3 and rng.random() < 0.3:
        digits = f"({digits[:3]}){digits[3:]}"
    text = rng.choice(COUNTRY_CODES) + digits
    text = decorate(seed + 1, text, ["", "", "", " ", "-", ".", "\u3000"])
    return rng.choice(["", " ", "\u3000"]) + text + rng.choice(["", " "])


mobiles = st.builds(
    lambda second, rest: "1" + second + rest,
    st.sampled_from("3456789"),
    st.text("0123456789", min_size=9, max_size=9),
)


@PROPERTY
@given(mobiles, seeds)
def test_property_mobile_decorated_normalises_back(mobile, seed):
    assert normalize_mobile(mobile) == mobile
    assert normalize_mobile(decorate_phone(seed, mobile)) == mobile


@PROPERTY
@given(
    st.sampled_from("3456789"),
    st.text("0123456789", max_size=14).filter(lambda rest: len(rest) != 9),
    seeds,
)
def test_property_mobile_other_digit_counts_refused(second, rest, seed):
    refused(normalize_mobile, decorate_phone(seed, "1" + second + rest), "invalid")


@PROPERTY
@given(st.text("0123456789", max_size=20).filter(lambda s: len(s) not in (11, 13, 15)))
def test_property_mobile_bare_digit_strings_of_other_lengths_refused(digits):
    refused(normalize_mobile, digits, "invalid")


@PROPERTY
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=25))
def test_property_mobile_idempotent(raw):
    try:
        once = normalize_mobile(raw)
    except ValidationError:
        return
    assert normalize_mobile(once) == once


# --- USCC: examples ---------------------------------------------------------


def make_uscc(first17: str) -> str:
    return first17 + ref_uscc_check(first17)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91350100M000100Y43", "91350100M000100Y43"),  # the example published with GB 32100-2015
        ("91350100m000100y43", "91350100M000100Y43"),
        ("9135 0100 M000 100Y 43", "91350100M000100Y43"),
        ("９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"),
        (make_uscc("91110000" + "600037341"), make_uscc("91110000" + "600037341")),
        (make_uscc("12100000" + "40000717X"), make_uscc("12100000" + "40000717X")),
        (make_uscc("Y" * 17), make_uscc("Y" * 17)),
        (make_uscc("0" * 17), make_uscc("0" * 17)),
    ],
)
def test_uscc_accepted(raw, expected):
    assert normalize_uscc(raw) == expected


def test_uscc_check_char_examples_and_bad_input():
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_check_char("0" * 17) == "0"  # c == 31 maps to 0
    for bad in ["", "91350100M000100Y", "91350100M000100Y43", "91350100I000100Y4", "91350100m000100Y4"]:
        with pytest.raises(ValueError):
            uscc_check_char(bad)


def test_uscc_wrong_check_char():
    assert refused(normalize_uscc, "91350100M000100Y44", "invalid_checksum") == "统一社会信用代码校验位不正确"
    refused(normalize_uscc, "91350100M000100Y34", "invalid_checksum")  # transposition


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "91350100M000100Y4",  # 17
        "91350100M000100Y433",  # 19
        "91350100I000100Y43",  # I
        "91350100O000100Y43",  # O
        "91350100Z000100Y43",  # Z
        "91350100S000100Y43",  # S
        "91350100V000100Y43",  # V
        "91350100M000100Y4-",
        "91350100-M000100Y43",
        "9135010０Ｍ０００１００Ｙ４３x",
    ],
)
def test_uscc_bad_format(raw):
    message = refused(normalize_uscc, raw, "invalid")
    assert message == "统一社会信用代码应为 18 位数字或大写字母（不含 I、O、Z、S、V）"


# --- USCC: properties -------------------------------------------------------

uscc_bodies = st.text(USCC_ALPHABET, min_size=17, max_size=17)


@PROPERTY
@given(uscc_bodies, seeds)
def test_property_uscc_accepted_and_round_trips(body, seed):
    code = make_uscc(body)
    assert uscc_check_char(body) == code[17]
    assert normalize_uscc(code) == code
    decorated = decorate(seed, code.lower() if seed % 2 else code, ["", "", " ", "\u3000"])
    assert normalize_uscc(decorated) == code


@PROPERTY
@given(uscc_bodies)
def test_property_uscc_any_other_check_char_refused(body):
    code = make_uscc(body)
    for other in USCC_ALPHABET:
        if other != code[17]:
            refused(normalize_uscc, body + other, "invalid_checksum")


@PROPERTY
@given(uscc_bodies, st.integers(min_value=0, max_value=16), st.sampled_from(USCC_ALPHABET))
def test_property_uscc_single_substitution_refused(body, position, char):
    code = make_uscc(body)
    if code[position] == char:
        return
    refused(normalize_uscc, code[:position] + char + code[position + 1 :], "invalid_checksum")


@PROPERTY
@given(st.text(alphabet=st.sampled_from(USCC_ALPHABET + USCC_ALPHABET.lower() + " IOZSV"), max_size=22))
def test_property_uscc_idempotent(raw):
    try:
        once = normalize_uscc(raw)
    except ValidationError:
        return
    assert normalize_uscc(once) == once


# --- bank cards: examples ---------------------------------------------------

# UnionPay-style numbers completed with the test's own Luhn digit.
UNIONPAY_16 = "622202123456789" + ref_luhn_digit("622202123456789")
UNIONPAY_19 = "622848001234567890" + ref_luhn_digit("622848001234567890")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4111111111111111", "4111111111111111"),  # Visa test number
        ("5500 0055 5555 5559", "5500005555555559"),  # Mastercard test number
        ("378282246310005", "378282246310005"),  # Amex test number, 15 digits
        ("6011-1111-1111-1117", "6011111111111117"),
        ("3530111333300000", "3530111333300000"),
        ("6200000000000005", "6200000000000005"),  # UnionPay test number
        ("４１１１ １１１１ １１１１ １１１１", "4111111111111111"),
        ("４１１１－１１１１－１１１１－１１１１", "4111111111111111"),
        (UNIONPAY_16, UNIONPAY_16),
        (UNIONPAY_19, UNIONPAY_19),
        ("000000000000", "000000000000"),  # 12 digits, Luhn-valid
    ],
)
def test_bank_card_accepted(raw, expected):
    assert normalize_bank_card(raw) == expected


@pytest.mark.parametrize(
    "raw", ["4111111111111112", "6222021234567890", "6222021234567890123", "378282246310006"]
)
def test_bank_card_bad_luhn(raw):
    assert ref_luhn_ok(raw) is False
    assert refused(normalize_bank_card, raw, "invalid_checksum") == "银行卡号校验失败，请核对卡号"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345678901",
        "1" * 20,
        "4111 1111 1111 111a",
        "4111.1111.1111.1111",
        "4111_1111_1111_1111",
        "٤١١١١١١١١١١١١١١١",
    ],
)
def test_bank_card_bad_format(raw):
    assert refused(normalize_bank_card, raw, "invalid") == "银行卡号应为 12 到 19 位数字"


# --- bank cards: properties -------------------------------------------------

card_bodies = st.text("0123456789", min_size=11, max_size=18)


@PROPERTY
@given(card_bodies, seeds)
def test_property_bank_card_accepted(body, seed):
    card = body + ref_luhn_digit(body)
    assert normalize_bank_card(card) == card
    decorated = decorate(seed, card, ["", "", " ", "-"])
    assert normalize_bank_card(decorated) == card
    assert normalize_bank_card(normalize_bank_card(decorated)) == card


@PROPERTY
@given(card_bodies, st.integers(min_value=0, max_value=18), st.integers(min_value=1, max_value=9))
def test_property_bank_card_single_digit_change_refused(body, position, delta):
    card = body + ref_luhn_digit(body)
    position %= len(card)
    digit = str((int(card[position]) + delta) % 10)
    refused(normalize_bank_card, card[:position] + digit + card[position + 1 :], "invalid_checksum")


@PROPERTY
@given(st.text("0123456789", max_size=25).filter(lambda s: not 12 <= len(s) <= 19))
def test_property_bank_card_wrong_length_refused(digits):
    refused(normalize_bank_card, digits, "invalid")


# --- e-mail -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("user@example.com", "user@example.com"),
        ("  Zhang.San@Example.COM  ", "Zhang.San@example.com"),
        ("li+loans@Mail.QQ.com", "li+loans@mail.qq.com"),
        ("wang＠１６３．ｃｏｍ", "wang@163.com"),
        ("\u3000a_b-c@sub.Example.cn\u3000", "a_b-c@sub.example.cn"),
    ],
)
def test_email_accepted(raw, expected):
    assert normalize_email(raw) == expected
    assert normalize_email(expected) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "user",
        "user@",
        "@example.com",
        "user@@example.com",
        "us er@example.com",
        "user@example",
        "user@exa mple.com",
        "user..x@example.com",
    ],
)
def test_email_refused(raw):
    assert refused(normalize_email, raw, "invalid") == "邮箱地址格式不正确"


ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
atoms = st.text(ALNUM + "_+-", min_size=1, max_size=8)
labels = st.builds(  # a DNS label: letters, digits and inner hyphens
    lambda first, middle, last: first + (middle + last if middle else ""),
    st.sampled_from(ALNUM),
    st.text(ALNUM + "-", max_size=8),
    st.sampled_from(ALNUM),
)


@PROPERTY
@given(
    st.lists(atoms, min_size=1, max_size=3),
    st.lists(labels, min_size=1, max_size=3),
    st.text(ALNUM[:52], min_size=2, max_size=6),
)
def test_property_email_domain_lower_cased_and_idempotent(local_atoms, domain_labels, tld):
    local = ".".join(local_atoms)
    domain = ".".join([*domain_labels, tld])
    once = normalize_email(f" {local}@{domain} ")
    assert once == f"{local}@{domain.lower()}"
    assert normalize_email(once) == once


@settings(max_examples=60, deadline=None)  # st.emails() is slow to generate
@given(st.emails())
def test_property_email_idempotent(raw):
    try:
        once = normalize_email(raw)
    except ValidationError:
        return
    assert normalize_email(once) == once


# --- masks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "raw", "expected"),
    [
        (mask_id_number, "640104199001011234", "640104********1234"),
        (mask_id_number, "11010519491231002X", "110105********002X"),
        (mask_id_number, "110105491231002", "110**********02"),
        (mask_id_number, "A1234567", "A12***67"),
        (mask_id_number, "12345", "*****"),
        (mask_id_number, "", ""),
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "01012345678", "010****5678"),
        (mask_phone, "12345", "***45"),
        (mask_phone, "", ""),
        (mask_bank_card, "6222021234567890123", "**** 0123"),
        (mask_bank_card, "4111111111111111", "**** 1111"),
        (mask_bank_card, "4111 1111 1111 1111", "**** 1111"),
        (mask_bank_card, "123", "***"),
        (mask_bank_card, "", ""),
    ],
)
def test_masks(func, raw, expected):
    assert func(raw) == expected


@PROPERTY
@given(resident_ids(), mobiles, card_bodies)
def test_property_masks_hide_the_middle(id18, mobile, body):
    card = body + ref_luhn_digit(body)
    masked_id = mask_id_number(id18)
    assert masked_id[:6] == id18[:6] and masked_id[-4:] == id18[-4:] and masked_id[6:14] == "*" * 8
    assert mask_phone(mobile) == mobile[:3] + "****" + mobile[-4:]
    assert mask_bank_card(card) == "**** " + card[-4:]


# --- backup contact: a mobile or a landline ----------------------------------------------------------

from loancrm.customers.validators import normalize_contact_number  # noqa: E402


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("0951-6012345", "0951-6012345"),
        ("(0951)6012345", "0951-6012345"),
        ("０９５１－６０１２３４５", "0951-6012345"),
        ("010 12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("09516012345", "0951-6012345"),
        ("0951-6012345 转 801", "0951-6012345-801"),
        ("+86 10 12345678", "010-12345678"),
        ("+86 138-0000-1234", "13800001234"),
    ],
)
def test_backup_contact_accepts_mobiles_and_landlines(typed, stored):
    assert normalize_contact_number(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "0951-601234", "6012345", "abc", "0951-6012345-1234567"])
def test_backup_contact_refuses_what_is_neither(typed):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as exc:
        normalize_contact_number(typed)
    assert "固定电话" in exc.value.messages[0]


@given(
    area=st.sampled_from(["010", "021", "0951", "0952", "0871"]),
    number=st.integers(min_value=2_000_000, max_value=99_999_999),
    sep=st.sampled_from(["-", " ", "", "—"]),
)
@settings(max_examples=200, deadline=None)
def test_landlines_round_trip(area, number, sep):
    digits = str(number)
    stored = normalize_contact_number(f"{area}{sep}{digits}")
    assert stored == f"{area}-{digits}"
    assert normalize_contact_number(stored) == stored


# --- amounts in clean_customer_data ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1" * 27, "应为金额或数字"),  # too many digits for a decimal: the row's own message, not a crash
        ("1" * 13, "数值过大"),  # fits a Decimal, not the column (14 digits, 2 after the point)
        ("99999999999999万", "数值过大"),
    ],
)
def test_an_amount_that_cannot_be_stored_is_refused_by_name(typed, message):
    from loancrm.customers.cleaning import clean_customer_data

    with translation.override("zh-hans"), pytest.raises(ValidationError) as exc:
        clean_customer_data({"name": "张三", "phone": "13800001111", "monthly_income": typed})
    assert message in exc.value.message_dict["monthly_income"][0]


@given(st.integers(min_value=0, max_value=999_999_999_999))
@settings(max_examples=200, deadline=None)
def test_plain_digit_amounts_read_as_yuan(amount):
    from decimal import Decimal

    from loancrm.customers.cleaning import clean_customer_data

    data = clean_customer_data({"name": "张三", "phone": "13800001111", "expected_amount": str(amount)})
    assert data["expected_amount"] == Decimal(amount).quantize(Decimal("0.01"))
