"""One validation and normalisation path for every way a customer comes in: form, API, import, OCR.

`clean_customer_data` takes raw values as people type them and returns model-ready values, or raises a
ValidationError whose dict maps each field to Chinese messages.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from loancrm.dictionaries.selectors import dictionary_labels

from . import validators as v
from .fields import DICTIONARY_FIELDS
from .models import Customer, CustomerType, Gender, IdType

TEXT_LIMITS = {f.name: f.max_length for f in Customer._meta.fields if getattr(f, "max_length", None)}
_NO_LIMIT = 1 << 62
DECIMAL_FIELDS = [
    "monthly_income",
    "debt_amount",
    "expected_amount",
    "registered_capital",
    "acceptable_rate_min",
    "acceptable_rate_max",
]
# The column holds max_digits with decimal_places after the point: a larger value cannot be stored.
DECIMAL_LIMITS = {
    name: Decimal(10)
    ** (Customer._meta.get_field(name).max_digits - Customer._meta.get_field(name).decimal_places)
    for name in DECIMAL_FIELDS
}
INT_FIELDS = {"credit_query_count": (0, 999), "expected_term_months": (1, 360)}
DATETIME_FIELDS = ["next_follow_up_at"]
DATE_FIELDS = ["birth_date", "established_date", "id_valid_from", "id_valid_until"]


_CUSTOMER_TYPES = frozenset(CustomerType.values)
_CENT = Decimal("0.01")


def _label(name: str) -> str:
    return str(Customer._meta.get_field(name).verbose_name)


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, Decimal):
        return value
    if value.__class__ is str and len(value) <= 15 and value.isascii() and value.isdigit():
        return Decimal(value).quantize(_CENT)  # plain digits, as most cells are (short: quantize cannot fail)
    text = v.to_halfwidth(str(value)).replace(",", "").replace("，", "").replace("元", "").strip()
    multiplier = Decimal(1)
    if text.endswith("万"):
        text, multiplier = text[:-1], Decimal(10000)
    try:
        result = (Decimal(text) * multiplier).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError from None
    if result < 0:
        raise ValueError
    return result


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)  # the common case, fast
        except ValueError:
            pass
    text = v.to_halfwidth(str(value)).strip().replace("年", "-").replace("月", "-").rstrip("日")
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError


def positive_yuan(value: Any, field: str) -> Decimal:
    """A money amount as people type it (50000, 50,000元, 5万) that must be above zero, to the cent
    (half up); otherwise a ValidationError naming the field. Intake and loans read amounts with it."""
    from decimal import ROUND_HALF_UP

    try:
        amount = _decimal(value)
    except (ValueError, ArithmeticError):
        amount = None
    if amount is None or amount <= 0:
        raise ValidationError({field: [_("请填写大于 0 的金额，如 50000 或 5万")]})
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def dictionary_lookups() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """field → (code → label, label → code) of the active items; an import reads them once per run."""
    out = {}
    for name, kind in DICTIONARY_FIELDS.items():
        labels = dictionary_labels(kind, active_only=True)
        out[name] = (labels, {label: code for code, label in labels.items()})
    return out


def clean_customer_data(
    raw: dict[str, Any],
    *,
    instance: Customer | None = None,
    unknown_dictionary_values: str = "error",
    lookups: dict[str, tuple[dict[str, str], dict[str, str]]] | None = None,
    require_contact: bool = True,
) -> dict[str, Any]:
    """Normalise and validate; `unknown_dictionary_values="keep"` keeps unknown codes for an admin to map.

    `require_contact=False` skips "a phone (or USCC) is required": for an imported row that updates a
    customer found by number, whose own phone was masked in the sheet and so not given.
    """
    data = dict(raw)
    errors: dict[str, list[str]] = {}

    def fail(field: str, message) -> None:
        errors.setdefault(field, []).append(str(message))

    ctype = data.get("customer_type") or (instance.customer_type if instance else CustomerType.INDIVIDUAL)
    if ctype not in _CUSTOMER_TYPES:
        fail("customer_type", _("客户类型只能是个人或企业"))
    data["customer_type"] = ctype

    # Names and free text keep what was typed (（集团） stays full-width); numbers and codes are
    # normalised by their own validators below.
    for name, value in data.items():  # replacing values of existing keys: safe while iterating
        if isinstance(value, str):
            data[name] = value.strip()

    if not data.get("name") and not (instance and instance.name and "name" not in raw):
        fail("name", _("请填写客户姓名或企业名称"))

    # Identity numbers and contact details, normalised the same way everywhere.
    normalisers = {
        "phone": v.normalize_mobile,
        "backup_phone": v.normalize_contact_number,  # often the office's or home's landline
        "bank_account": v.normalize_bank_card,
        "email": v.normalize_email,
        "uscc": v.normalize_uscc,
    }
    for name, fn in normalisers.items():
        if data.get(name):
            try:
                data[name] = fn(data[name])
            except ValidationError as exc:
                fail(name, exc.messages[0])
    id_type = data.get("id_type") or (IdType.RESIDENT_ID if data.get("id_number") else "")
    if data.get("id_number"):
        data["id_type"] = id_type
        if id_type == IdType.RESIDENT_ID:
            try:
                data["id_number"] = v.normalize_resident_id(data["id_number"])
            except ValidationError as exc:
                fail("id_number", exc.messages[0])
            else:
                id18 = data["id_number"]  # validated above: digits 7–14 are a real date
                born = date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))
                sex = Gender.MALE if int(id18[16]) % 2 else Gender.FEMALE
                if data.get("gender") and data["gender"] != sex:
                    fail(
                        "gender",
                        _("性别与身份证号码不符（身份证号码显示为%(sex)s）") % {"sex": Gender(sex).label},
                    )
                data["gender"] = sex
                typed_birth = data.get("birth_date")
                if typed_birth not in (None, ""):
                    try:
                        if _date(typed_birth) != born:
                            fail(
                                "birth_date", _("出生日期与身份证号码不符（应为 %(date)s）") % {"date": born}
                            )
                    except ValueError:
                        pass
                data["birth_date"] = born
        else:
            data["id_number"] = data["id_number"].replace(" ", "").upper()
            if len(data["id_number"]) < 5:
                fail("id_number", _("证件号码太短，请核对"))

    for name in DECIMAL_FIELDS:
        if name in data:
            try:
                data[name] = _decimal(data[name])
            except (ValueError, ArithmeticError):
                fail(name, _("“%(field)s”应为金额或数字，如 50000、5万、3.5万") % {"field": _label(name)})
            else:
                if data[name] is not None and data[name] >= DECIMAL_LIMITS[name]:
                    fail(name, _("“%(field)s”数值过大，请核对") % {"field": _label(name)})
    for name, (low, high) in INT_FIELDS.items():
        if data.get(name) not in (None, ""):
            try:
                number = int(str(data[name]).strip())
                if not low <= number <= high:
                    raise ValueError
                data[name] = number
            except ValueError:
                fail(
                    name,
                    _("“%(field)s”应为 %(low)s 到 %(high)s 之间的整数")
                    % {"field": _label(name), "low": low, "high": high},
                )
        elif name in data:
            data[name] = None
    for name in DATE_FIELDS:
        if name in data and not isinstance(data[name], date):
            try:
                data[name] = _date(data[name])
            except ValueError:
                fail(name, _("“%(field)s”不是有效日期，请按 2026-03-05 的格式填写") % {"field": _label(name)})
    for name in DATETIME_FIELDS:
        if name in data and data[name] == "":
            data[name] = None  # a blank cell, as an export writes an empty 下次跟进时间
    if data.get("birth_date") and isinstance(data["birth_date"], date) and data["birth_date"] > v._today():
        fail("birth_date", _("出生日期不能晚于今天"))
    start, end = data.get("id_valid_from"), data.get("id_valid_until")
    if isinstance(start, date) and isinstance(end, date) and end <= start:
        fail("id_valid_until", _("证件有效期至必须晚于有效期起"))
    low, high = data.get("acceptable_rate_min"), data.get("acceptable_rate_max")
    if isinstance(low, Decimal) and isinstance(high, Decimal) and low > high:
        fail("acceptable_rate_max", _("可接受年利率上限不能低于下限"))

    unmapped = dict(instance.unmapped_values) if instance else {}
    for name, kind in DICTIONARY_FIELDS.items():
        value = data.get(name)
        if value in (None, ""):
            unmapped.pop(name, None)
            continue
        # Retired items stay readable on old records but cannot be chosen anew.
        if lookups is not None:
            labels, by_label = lookups[name]
        else:
            labels = dictionary_labels(kind, active_only=True)
            by_label = {label: code for code, label in labels.items()}
        if instance is not None and getattr(instance, name) == value:
            labels = {**labels, value: value}
        if value in labels:
            unmapped.pop(name, None)
        elif value in by_label:  # people type the label (渠道: 抖音), forms send the code
            data[name] = by_label[value]
            unmapped.pop(name, None)
        elif unknown_dictionary_values == "keep":
            unmapped[name] = value
            data[name] = ""
        else:
            fail(name, _("“%(value)s”不在“%(field)s”的可选项中") % {"value": value, "field": _label(name)})
    data["unmapped_values"] = unmapped

    for name, value in data.items():
        if isinstance(value, str) and len(value) > TEXT_LIMITS.get(name, _NO_LIMIT):
            fail(
                name,
                _("“%(field)s”最多 %(limit)s 个字") % {"field": _label(name), "limit": TEXT_LIMITS[name]},
            )

    if not require_contact:
        pass
    elif ctype == CustomerType.ENTERPRISE:
        if not data.get("uscc") and not (instance and instance.uscc) and "uscc" not in errors:
            fail("uscc", _("企业客户须填写统一社会信用代码"))
    elif (
        not data.get("phone")
        and not (instance and instance.phone and "phone" not in raw)
        and "phone" not in errors
    ):
        fail("phone", _("请填写手机号码"))

    if errors:
        raise ValidationError(errors)
    return data
