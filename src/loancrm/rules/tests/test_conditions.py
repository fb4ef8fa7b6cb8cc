"""Conditions: what admins type is checked with a Chinese message, and the SQL a rule compiles to picks
exactly the records a person would pick by reading the rule."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from loancrm.customers.models import Customer
from loancrm.rules import conditions as cond
from loancrm.rules.entities import APPLICATION, CUSTOMER

pytestmark = pytest.mark.django_db


@given(
    n=st.integers(min_value=0, max_value=10_000), unit=st.sampled_from(["m", "h", "d", "分钟", "小时", "天"])
)
def test_durations_read_as_people_write_them(n, unit):
    delta = cond.parse_duration(f" {n}{unit} ")
    per = {"m": 60, "分钟": 60, "h": 3600, "小时": 3600, "d": 86400, "天": 86400}[unit]
    assert delta.total_seconds() == n * per


@pytest.mark.parametrize("text", ["", "2", "两小时", "2 weeks", "-3d", "1.5h"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="时长格式"):
        cond.parse_duration(text)


@given(
    days=st.lists(st.integers(min_value=0, max_value=3660), min_size=1, max_size=5),
    sep=st.sampled_from([",", "，", "、", " "]),
)
def test_day_lists(days, sep):
    assert cond.parse_days(sep.join(map(str, days))) == days


def test_validate_normalises_and_names_problems():
    ok = cond.validate(
        CUSTOMER, {"op": "and", "items": [{"field": "expected_amount", "cmp": "gte", "value": "500,000"}]}
    )
    assert ok["items"][0]["value"] == "500000"
    with pytest.raises(ValidationError, match="不能用"):
        cond.validate(CUSTOMER, {"op": "and", "items": [{"field": "name", "cmp": "gt", "value": "1"}]})
    with pytest.raises(ValidationError, match="不是可选的值"):
        cond.validate(
            APPLICATION, {"op": "and", "items": [{"field": "status", "cmp": "eq", "value": "nope"}]}
        )
    with pytest.raises(ValidationError, match="只能放在最外层"):
        cond.validate(
            APPLICATION,
            {
                "op": "or",
                "items": [
                    {"field": "missing_materials", "cmp": "is_true"},
                    {"field": "amount", "cmp": "gt", "value": "1"},
                ],
            },
        )
    with pytest.raises(ValidationError, match="全部满足"):
        cond.validate(CUSTOMER, {"op": "xor", "items": []})


AMOUNTS = st.one_of(st.none(), st.decimals(min_value=0, max_value=2_000_000, places=2, allow_nan=False))


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(AMOUNTS, min_size=1, max_size=6),
    threshold=st.decimals(min_value=0, max_value=2_000_000, places=2, allow_nan=False),
    cmp=st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne", "empty", "not_empty"]),
    op=st.sampled_from(["and", "or"]),
)
def test_money_conditions_pick_what_a_person_would(org, amounts, threshold, cmp, op):
    Customer.objects.filter(name__startswith="hyp-").delete()
    made = [
        Customer.objects.create(
            name=f"hyp-{i}",
            customer_no=f"HYP{i:04d}",
            expected_amount=a,
            owner=org["sales1"],
            department=org["sales1"].department,
        )
        for i, a in enumerate(amounts)
    ]
    item = {"field": "expected_amount", "cmp": cmp, "value": str(threshold)}
    second = {"field": "owner", "cmp": "not_empty"}
    rule = cond.validate(CUSTOMER, {"op": op, "items": [item, second]})
    q = cond.compile_conditions(CUSTOMER, rule, timezone.now()).q
    picked = set(Customer.objects.filter(name__startswith="hyp-").filter(q).values_list("pk", flat=True))

    def reads(a: Decimal | None) -> bool:
        if cmp == "empty":
            return a is None
        if cmp == "not_empty":
            return a is not None
        if cmp == "ne":
            return a is None or a != threshold
        if a is None:
            return False
        return {
            "gt": a > threshold,
            "gte": a >= threshold,
            "lt": a < threshold,
            "lte": a <= threshold,
            "eq": a == threshold,
        }[cmp]

    expected = {c.pk for c in made if op == "or" or reads(c.expected_amount)}
    assert picked == expected


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ages=st.lists(st.integers(min_value=0, max_value=60 * 24 * 20), min_size=1, max_size=6),
    hours=st.integers(min_value=1, max_value=24 * 14),
)
def test_older_than_and_newer_than_split_at_the_same_moment(org, ages, hours):
    now = timezone.now().replace(microsecond=0)
    Customer.objects.filter(name__startswith="age-").delete()
    made = [
        Customer.objects.create(
            name=f"age-{i}",
            customer_no=f"AGE{i:04d}",
            created_at=now - timedelta(minutes=m),
            department=org["sales1"].department,
        )
        for i, m in enumerate(ages)
    ]
    mine = Customer.objects.filter(name__startswith="age-")
    older = cond.compile_conditions(
        CUSTOMER,
        {"op": "and", "items": [{"field": "created_at", "cmp": "older_than", "value": f"{hours}h"}]},
        now,
    ).q
    newer = cond.compile_conditions(
        CUSTOMER,
        {"op": "and", "items": [{"field": "created_at", "cmp": "newer_than", "value": f"{hours}h"}]},
        now,
    ).q
    old_ids = set(mine.filter(older).values_list("pk", flat=True))
    new_ids = set(mine.filter(newer).values_list("pk", flat=True))
    assert old_ids | new_ids == {c.pk for c in made} and not old_ids & new_ids
    assert old_ids == {c.pk for c in made if now - c.created_at >= timedelta(hours=hours)}


def test_in_days_and_anniversaries_use_local_dates(org):
    now = timezone.make_aware(datetime(2026, 12, 1, 23, 30))  # late evening in Shanghai (15:30 UTC)
    c = Customer.objects.create(
        name="生日", customer_no="BD0001", birth_date=date(1990, 12, 2), department=org["sales1"].department
    )
    q = cond.compile_conditions(
        CUSTOMER,
        {"op": "and", "items": [{"field": "birth_date", "cmp": "anniversary_in_days", "value": "1"}]},
        now,
    ).q
    assert Customer.objects.filter(q, pk=c.pk).exists()
    q0 = cond.compile_conditions(
        CUSTOMER,
        {"op": "and", "items": [{"field": "next_follow_up_at", "cmp": "in_days", "value": "0"}]},
        now,
    ).q
    c.next_follow_up_at = timezone.make_aware(
        datetime(2026, 12, 1, 7, 0)
    )  # the same local day, 23:00 UTC the day before
    c.save()
    assert Customer.objects.filter(q0, pk=c.pk).exists()


def test_describe_reads_like_the_rule():
    text = cond.describe(
        CUSTOMER,
        {
            "op": "and",
            "items": [
                {"field": "expected_amount", "cmp": "gt", "value": "500000"},
                {"field": "last_follow_up_at", "cmp": "empty"},
            ],
        },
    )
    assert text == "期望金额（元） 大于 500000 且 最近跟进时间 为空"
