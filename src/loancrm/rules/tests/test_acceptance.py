"""Acceptance 1: with the demo data, `loancrm rules run --now` at chosen times fires each default rule
on the right records, and running it again fires nothing new."""

import json
from datetime import date, datetime, time, timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from loancrm.customers.models import Customer
from loancrm.rules.defaults import RULES


def run(when: datetime) -> dict:
    out = StringIO()
    call_command("rules", "run", "--now", when.strftime("%Y-%m-%dT%H:%M"), stdout=out)
    return json.loads(out.getvalue())


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def test_each_default_rule_fires_at_a_chosen_time_and_only_once(db):
    call_command("demo_data", customers=400, seed=3, password="Demo#pass2026", stdout=StringIO())
    today = timezone.localdate()
    birthday = (
        Customer.objects.filter(owner__isnull=False, birth_date__isnull=False)
        .exclude(birth_date__month=2, birth_date__day=29)
        .order_by("id")
        .values_list("birth_date", flat=True)
        .first()
    )
    eve = birthday.replace(year=today.year) - timedelta(days=1)
    next_monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    times = [
        at(
            today, 10, 30
        ),  # repayment due in 7 days, new leads, stalled, materials, visit, collection, daily report
        at(eve, 9, 30),  # a customer's birthday eve
        at(next_monday, 8, 30),  # the weekly report
    ]
    fired: dict[str, int] = {}
    for when in times:
        first = run(when)
        assert not first["errors"], first
        for code, counts in first["rules"].items():
            fired[code] = fired.get(code, 0) + counts["fired"]
        again = run(when)
        assert again["fired"] == 0, (when, again)
        assert again["skipped_already_done"] >= first["fired"]
    missing = [r["code"] for r in RULES if not fired.get(r["code"])]
    assert missing == [], fired
