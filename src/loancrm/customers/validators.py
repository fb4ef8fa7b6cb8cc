"""Validation and normalisation of mainland-China identifiers as users type them.

Pure functions: no models, no database. Each ``normalize_*`` function takes the
raw text from a form or API call and either returns the canonical value or
raises ``ValidationError`` with a Chinese message (source language of the
project) naming the problem and a stable ``code`` for API clients and tests.

* 居民身份证号码 — GB 11643-1999, ISO 7064 MOD 11-2 check character.
* 统一社会信用代码 — GB 32100-2015, mod-31 check character.
* 银行卡号 — 12 to 19 digits, Luhn check digit.
* 手机号码 — mainland mobile numbers, with or without the +86 country code.
* 邮箱地址 — Django's ``EmailValidator``, domain lower-cased.

The ``mask_*`` helpers shorten stored values for display to people who may
not see them in full.
"""

from __future__ import annotations

import datetime
import operator
import re
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "mask_bank_card",
    "mask_id_number",
    "mask_phone",
    "normalize_bank_card",
    "normalize_email",
    "normalize_mobile",
    "normalize_resident_id",
    "normalize_uscc",
    "resident_id_birth_date",
    "resident_id_check_char",
    "resident_id_gender",
    "to_halfwidth",
    "uscc_check_char",
]

# --- shared helpers ---------------------------------------------------------

# U+FF01..U+FF5E (full-width ASCII) -> U+0021..U+007E; U+3000 ideographic space -> space.
_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

# Invisible characters that ride along when numbers are pasted from chats or documents.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def to_halfwidth(value: str) -> str:
    """Full-width ASCII (U+FF01–U+FF5E) to half-width, U+3000 to a space; strip surrounding whitespace."""
    return value.translate(_HALFWIDTH).strip()


def _compact(value: str, drop: str = "") -> str:
    """Half-width text with every whitespace character, zero-width character and each char of ``drop`` removed."""
    if value is None:
        return ""
    if value.__class__ is str and value.isascii() and value.isalnum():
        return value  # already compact: bare ASCII digits and letters, as most cells are
    text = "".join(to_halfwidth(str(value)).translate(_INVISIBLE).split())
    if drop:
        text = text.translate(dict.fromkeys(map(ord, drop)))
    return text


_TODAY: list = [None, None]  # (minute, date): imports check thousands of birth dates a second


def _today() -> datetime.date:
    minute = int(time.time() // 60)
    if _TODAY[0] != minute:
        _TODAY[:] = [minute, timezone.localdate() if settings.USE_TZ else datetime.date.today()]
    return _TODAY[1]


# --- 居民身份证号码 (GB 11643-1999) -------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_18_RE = re.compile(r"[0-9]{17}[0-9X]")
_ID_15_RE = re.compile(r"[0-9]{15}")
_ID_17_RE = re.compile(r"[0-9]{17}")

# Province-level codes: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71 (Taiwan), 81/82 (HK/Macao), 83.
_ID_REGIONS = frozenset(
    [
        f"{n:02d}"
        for lo, hi in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65))
        for n in range(lo, hi + 1)
    ]
    + ["71", "81", "82", "83"]
)

_ID_FORMAT_MESSAGE = _("身份证号码应为 18 位（最后一位可为 X）或 15 位数字")


def resident_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character ("0"–"9" or "X") for the first 17 digits of a resident ID."""
    if not isinstance(first17, str) or not _ID_17_RE.fullmatch(first17):
        raise ValueError("resident_id_check_char() needs exactly 17 ASCII digits")
    total = sum(map(operator.mul, map(int, first17), _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11]


def _id_birth_date(id18: str) -> datetime.date | None:
    """The birth date in digits 7–14, or None when it is not a real past date from 1900 on."""
    try:
        born = datetime.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))
    except ValueError:
        return None
    if born.year < 1900 or born > _today():
        return None
    return born


def normalize_resident_id(value: str) -> str:
    """Validate a mainland resident ID number and return it as 18 upper-case characters.

    Accepts spaces anywhere, full-width digits and a lower-case x; 15-digit first-generation
    numbers are upgraded to 18 digits (``19`` inserted before the year, check character added).
    """
    text = _compact(value).upper()
    if _ID_15_RE.fullmatch(text):
        first17, given_check = text[:6] + "19" + text[6:], None
    elif _ID_18_RE.fullmatch(text):
        first17, given_check = text[:17], text[17]
    else:
        raise ValidationError(_ID_FORMAT_MESSAGE, code="invalid")

    if first17[:2] not in _ID_REGIONS:
        raise ValidationError(_("身份证号码地区码不正确"), code="invalid_region")
    if _id_birth_date(first17) is None:
        raise ValidationError(_("身份证号码中的出生日期不正确"), code="invalid_birth_date")

    expected = resident_id_check_char(first17)
    if given_check is not None and given_check != expected:
        raise ValidationError(
            # Not naming the expected character: a typo elsewhere would be "fixed" by changing the last one.
            _("身份证号码校验位不正确，请对照证件逐位核对后重新输入"),
            code="invalid_checksum",
            params={"expected": expected},
        )
    return first17 + expected


def resident_id_birth_date(id18: str) -> datetime.date:
    """Birth date encoded in a resident ID (the ID is validated and normalised first)."""
    id18 = normalize_resident_id(id18)
    return datetime.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def resident_id_gender(id18: str) -> str:
    """Return "male" when the 17th digit is odd, "female" when even (the ID is validated and normalised first)."""
    id18 = normalize_resident_id(id18)
    return "male" if int(id18[16]) % 2 else "female"


# --- 手机号码 ---------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
# Separators people type between digit groups, including the Unicode dashes word processors produce.
_MOBILE_SEPARATORS = "-.()\u2010\u2011\u2012\u2013\u2014\u2015\u2212"


def normalize_mobile(value: str) -> str:
    """Validate a mainland mobile number and return its 11 digits.

    Accepts full-width characters, spaces, dashes, dots, parentheses and a leading
    country code written as +86, 86, 0086, "+86-" or "(+86)".
    """
    text = _compact(value, drop=_MOBILE_SEPARATORS)
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if not _MOBILE_RE.fullmatch(text):
        raise ValidationError(_("手机号码应为 11 位、以 1 开头的中国大陆手机号"), code="invalid")
    return text


# Landline: area codes 010 and 020–029 have three digits, all others four; then 7–8 digits, and an
# optional extension (转 801, ext 801, #801).
_LANDLINE_RE = re.compile(r"(0[12]\d|0[3-9]\d{2})(\d{7,8})(?:(?:转|ext|x|#|-)(\d{1,6}))?")


_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")


def normalize_contact_number(value: str) -> str:
    """A backup contact: a mainland mobile (11 digits, as normalize_mobile) or a landline written
    as 0951-6012345, (0951)6012345, 010 12345678 or 0951-6012345 转 801 — returned as
    0951-6012345, with -801 for an extension."""
    try:
        return normalize_mobile(value)
    except ValidationError:
        pass
    text = _compact(value).lower().translate(_DASHES)
    if text.startswith("+86"):
        text = "0" + text[3:].lstrip("-(").lstrip("0")
    text = text.replace("(", "").replace(")", "-")
    head, sep, rest = text.partition("-")  # 0951-6012345[-801]: the first dash ends the area code
    text = head + rest if sep and head.startswith("0") and len(head) in (3, 4) else text.replace("-", "", 1)
    match = _LANDLINE_RE.fullmatch(text)
    if not match:
        raise ValidationError(_("请填写 11 位手机号，或带区号的固定电话（如 0951-6012345）"), code="invalid")
    area, number, ext = match.groups()
    return f"{area}-{number}" + (f"-{ext}" if ext else "")


# --- 统一社会信用代码 (GB 32100-2015) -----------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
_USCC_VALUES = {char: index for index, char in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)  # 3**i mod 31
_USCC_RE = re.compile(f"[{_USCC_ALPHABET}]{{18}}")


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character for the first 17 characters of a unified social credit code."""
    if not isinstance(first17, str) or len(first17) != 17 or any(c not in _USCC_VALUES for c in first17):
        raise ValueError("uscc_check_char() needs 17 characters from " + _USCC_ALPHABET)
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    check = 31 - total % 31
    return _USCC_ALPHABET[0 if check == 31 else check]


def normalize_uscc(value: str) -> str:
    """Validate a unified social credit code and return its 18 upper-case characters."""
    text = _compact(value).upper()
    if not _USCC_RE.fullmatch(text):
        raise ValidationError(
            _("统一社会信用代码应为 18 位数字或大写字母（不含 I、O、Z、S、V）"), code="invalid"
        )
    if uscc_check_char(text[:17]) != text[17]:
        raise ValidationError(_("统一社会信用代码校验位不正确"), code="invalid_checksum")
    return text


# --- 银行卡号 ---------------------------------------------------------------

_BANK_CARD_RE = re.compile(r"[0-9]{12,19}")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalize_bank_card(value: str) -> str:
    """Validate a bank card number (12–19 digits, Luhn check) and return the bare digits."""
    text = _compact(value, drop="-\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
    if not _BANK_CARD_RE.fullmatch(text):
        raise ValidationError(_("银行卡号应为 12 到 19 位数字"), code="invalid")
    if not _luhn_valid(text):
        raise ValidationError(_("银行卡号校验失败，请核对卡号"), code="invalid_checksum")
    return text


# --- 邮箱地址 ---------------------------------------------------------------

_EMAIL_MESSAGE = _("邮箱地址格式不正确")


class _EagerEmailValidator(EmailValidator):
    # Django compiles these regexes lazily behind a proxy that costs a few µs on every use; an import
    # checks an address per row, so resolve them once.
    user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
    domain_regex = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
    literal_regex = re.compile(EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags)


_email_validator = _EagerEmailValidator(message=_EMAIL_MESSAGE, code="invalid")


def normalize_email(value: str) -> str:
    """Validate an e-mail address; return it stripped, with full-width characters and the domain lower-cased."""
    text = to_halfwidth(str(value)) if value is not None else ""
    local, at, domain = text.rpartition("@")
    if at:
        text = f"{local}@{domain.lower()}"
    _email_validator(text)
    return text


# --- display masks ----------------------------------------------------------


def _mask(value: str, head: int, tail: int) -> str:
    hidden = len(value) - head - tail
    if hidden < 1:
        return "*" * len(value)
    return value[:head] + "*" * hidden + value[len(value) - tail :]


def mask_id_number(value: str) -> str:
    """Mask an ID number: 640104199001011234 -> 640104********1234; other lengths keep the first 3 and last 2."""
    value = "".join((value or "").split())
    if len(value) == 18:
        return value[:6] + "*" * 8 + value[14:]
    return _mask(value, 3, 2)


def mask_phone(value: str) -> str:
    """Mask a phone number: 13812345678 -> 138****5678; values under 8 characters keep only the last 2."""
    value = "".join((value or "").split())
    if len(value) >= 8:
        return _mask(value, 3, 4)
    return _mask(value, 0, 2)


def mask_bank_card(value: str) -> str:
    """Mask a card number: 6222021234567890123 -> "**** 0123"; 4 characters or fewer are fully starred."""
    value = "".join((value or "").split())
    if not value:
        return ""
    if len(value) <= 4:
        return "*" * len(value)
    return "**** " + value[-4:]
