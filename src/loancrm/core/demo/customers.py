"""Demo customers in bulk: the same rows for the same seed, fast enough for a million.

Rows go in with bulk_create (no per-row history or audit entry: one audit entry records the run), but
through the same model fields, so sensitive values are encrypted and blind-indexed like any other.
"""

import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from loancrm.accounts.models import User
from loancrm.core.bulk import bulk_insert
from loancrm.core.crypto import blind_index
from loancrm.customers.models import Customer, CustomerType, DataSource, Gender, IdType
from loancrm.customers.numbers import format_customer_no, reserve
from loancrm.customers.validators import resident_id_check_char, uscc_check_char

from . import ningxia
from .org import SALES_USERNAMES, SALES_WEIGHTS

BATCH = 5000
BIRTH_START = date(1960, 1, 1)
BIRTH_SPAN = 16001  # days; prime, so (k * 2963) % BIRTH_SPAN visits each day once
assert math.gcd(2963, BIRTH_SPAN) == 1
STAGES = ["new"] * 3 + ["contacted"] * 3 + ["collecting"] * 2 + ["reviewing", "approved", "disbursed"] + [
    "repaying"
] * 2 + ["settled", "lost"]  # fmt: skip
CHANNELS = ["walk_in", "referral", "referral", "agent", "douyin", "wechat", "forum", "phone", "bank"]
LOAN_TYPES = ["credit", "credit", "mortgage", "car", "consumer"]
OCCUPATIONS = [
    "个体工商户",
    "公司职员",
    "公务员",
    "教师",
    "医生",
    "司机",
    "农户",
    "销售",
    "工程师",
    "自由职业",
]
EMPLOYERS = ["宁夏某能源集团", "银川市某小学", "某物流公司", "某枸杞合作社", "某商贸有限公司", "某建筑公司"]
PURPOSES = ["经营周转", "购车", "装修", "教育", "医疗", "购置设备", "进货"]
COMPANY_WORDS = ["枸杞", "塞上", "贺兰山", "黄河", "六盘山", "沙坡头", "西夏", "凤城"]
COMPANY_KINDS = ["商贸有限公司", "农业科技有限公司", "建材有限公司", "物流有限公司", "餐饮管理有限公司"]


def _resident_id(i: int, rng: random.Random) -> tuple[str, date, str]:
    """A valid ID number unique per row: row i gives birth day (i * 2963) % BIRTH_SPAN and sequence
    i % 1000 — unique up to 16,001,000 rows, and birthdays spread over the year (生日提醒 has work)."""
    birth = BIRTH_START + timedelta(days=(i * 2963) % BIRTH_SPAN)
    seq = i % 1000
    gender = Gender.MALE if seq % 2 else Gender.FEMALE  # the 17th digit: odd for men, even for women
    first17 = f"{rng.choice(ningxia.REGION_CODES)}{birth:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_char(first17), birth, gender


def _uscc(i: int) -> str:
    first17 = f"91640100{i:09d}"
    return first17 + uscc_check_char(first17)


def _rows(
    start: int, stop: int, seed: int, owners: list[User], now, numbers: range, total: int
) -> Iterator[dict]:
    # Spread over the past year, in id order, so newest-first lists read naturally (over all `total`
    # customers asked for, not the batch: batches used to pile up in the last days).
    step = timedelta(days=365) / max(total, 1)
    for n, i in zip(numbers, range(start, stop), strict=True):
        # One generator per row, seeded by (seed, i): row i is the same whatever was created before it.
        rng = random.Random(seed * 10_000_019 + i)
        owner = rng.choices(owners, weights=SALES_WEIGHTS)[0]
        city = "银川" if rng.random() < 0.7 else None
        created = now - step * (total - i) + timedelta(seconds=rng.randint(0, 59))
        phone = ningxia.mobile(i, seed)
        stage = rng.choice(STAGES)
        c = dict(
            customer_no=format_customer_no(n, created),
            phone=phone,
            phone_bidx=blind_index(phone),
            current_address=ningxia.address(rng, city),
            channel=rng.choice(CHANNELS),
            stage=stage,
            loan_type=rng.choice(LOAN_TYPES),
            expected_amount=Decimal(rng.choice([3, 5, 8, 10, 15, 20, 30, 50, 80, 100])) * 10000,
            expected_term_months=rng.choice([6, 12, 24, 36, 60]),
            loan_purpose=rng.choice(PURPOSES),
            owner_id=owner.pk,
            department_id=owner.department_id,
            created_by_id=owner.pk,
            data_source=DataSource.DEMO,
            created_at=created,
            updated_at=created,
        )
        if stage not in ("settled", "lost"):
            # Some follow-ups are due in the coming week, some are already overdue.
            c["next_follow_up_at"] = now + timedelta(hours=rng.randint(-72, 168))
        if rng.random() < 0.05:
            c.update(
                customer_type=CustomerType.ENTERPRISE,
                name=f"宁夏{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_KINDS)}",
                uscc=_uscc(i),
                legal_representative=ningxia.person_name(rng),
                registered_capital=Decimal(rng.choice([50, 100, 200, 500, 1000])) * 10000,
                established_date=date(rng.randint(2000, 2022), rng.randint(1, 12), rng.randint(1, 28)),
                industry=rng.choice(["agriculture", "trade", "construction", "catering", "transport"]),
                business_address=c["current_address"],
                loan_type="business",
            )
        else:
            id_number, birth, gender = _resident_id(i, rng)
            c.update(
                name=ningxia.person_name(rng),
                gender=gender,
                id_type=IdType.RESIDENT_ID,
                id_number=id_number,
                id_number_bidx=blind_index(id_number),
                birth_date=birth,
                marital_status=rng.choice(["married", "married", "unmarried", "divorced"]),
                education=rng.choice(["junior", "senior", "college", "bachelor", "bachelor", "master"]),
                household_address=ningxia.address(rng, city),
                occupation=rng.choice(OCCUPATIONS),
                employer=rng.choice(EMPLOYERS),
                monthly_income=Decimal(rng.randrange(3000, 30000, 500)),
                social_security=rng.choice(["both", "both", "social_only", "none"]),
                credit_query_count=rng.randint(0, 8),
            )
        yield c


def ensure_customers(count: int, seed: int, progress=None) -> int:
    """Bring the number of demo customers up to `count`; returns how many were created now."""
    owners = list(User.objects.filter(username__in=SALES_USERNAMES).order_by("username"))
    existing = Customer.objects.filter(data_source=DataSource.DEMO).count()
    now = timezone.now().replace(microsecond=0)
    created = 0
    for start in range(existing, count, BATCH):
        stop = min(start + BATCH, count)
        with transaction.atomic():
            numbers = reserve(stop - start)
            bulk_insert(Customer, _rows(start, stop, seed, owners, now, numbers, count))
        created += stop - start
        if progress:
            progress(existing + created, count)
    if created:
        # Fresh planner statistics: without them SQLite picks poor indexes for scoped lists.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return created
