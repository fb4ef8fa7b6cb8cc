"""Customer numbers (客户编号): KH + yymm + 6-digit sequence + "-" + check character, e.g. KH2611000123-8.

The sequence never goes back, so a number is never reused. The check character (ISO 7064 MOD 11-2 over
the digits, as on resident ID cards) catches a mistyped digit or two swapped digits.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Sequence

SEQUENCE = "customer_no"
PREFIX = "KH"


def check_char(digits: str) -> str:
    total = 0
    for ch in digits:
        total = (total + int(ch)) * 2 % 11
    return "0123456789X"[(12 - total % 11) % 11]


def format_customer_no(seq: int, when=None) -> str:
    when = timezone.localtime(when) if when else timezone.localtime()
    digits = f"{when:%y%m}{seq:06d}"
    return f"{PREFIX}{digits}-{check_char(digits)}"


def format_customer_nos(seqs: range, when=None) -> list[str]:
    """Many numbers of the same month at once (imports)."""
    when = timezone.localtime(when) if when else timezone.localtime()
    month = f"{when:%y%m}"
    out = []
    for seq in seqs:
        digits = f"{month}{seq:06d}"
        out.append(f"{PREFIX}{digits}-{check_char(digits)}")
    return out


def is_valid_customer_no(value: str) -> bool:
    value = (value or "").strip().upper()
    if not value.startswith(PREFIX) or "-" not in value:
        return False
    digits, _, check = value[len(PREFIX) :].partition("-")
    return digits.isdigit() and len(digits) >= 10 and check_char(digits) == check


def reserve(count: int = 1, name: str = SEQUENCE) -> range:
    """Reserve `count` consecutive values of a sequence in their own transaction (a gap is fine, reuse is not)."""
    with transaction.atomic():
        Sequence.objects.get_or_create(name=name)
        Sequence.objects.filter(name=name).update(value=F("value") + count)
        end = Sequence.objects.get(name=name).value
    return range(end - count + 1, end + 1)


def format_number(prefix: str, seq: int, when=None) -> str:
    """PREFIX + yymm + 6-digit sequence + "-" + check character (application and loan numbers too)."""
    when = timezone.localtime(when) if when else timezone.localtime()
    digits = f"{when:%y%m}{seq:06d}"
    return f"{prefix}{digits}-{check_char(digits)}"


def next_customer_no(when=None) -> str:
    return format_customer_no(reserve(1)[0], when)
