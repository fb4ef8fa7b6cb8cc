"""Demo customers in bulk: the same rows for the same seed, fast enough for a million."""

import random
from collections.abc import Iterator
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from loancrm.accounts.models import User
from loancrm.customers.models import Customer, DataSource

from . import ningxia
from .org import SALES_USERNAMES, SALES_WEIGHTS

BATCH = 5000


def _rows(start: int, stop: int, seed: int, owners: list[User], now) -> Iterator[Customer]:
    # Spread over the past year, in id order, so newest-first lists read naturally.
    step = timedelta(days=365) / max(stop, 1)
    for i in range(start, stop):
        # One generator per row, seeded by (seed, i): row i is the same whatever was created before it.
        rng = random.Random(seed * 10_000_019 + i)
        owner = rng.choices(owners, weights=SALES_WEIGHTS)[0]
        city = "银川" if rng.random() < 0.7 else None
        created = now - step * (stop - i) + timedelta(seconds=rng.randint(0, 59))
        yield Customer(
            name=ningxia.person_name(rng),
            phone=ningxia.mobile(i, seed),
            current_address=ningxia.address(rng, city),
            owner=owner,
            department_id=owner.department_id,
            created_by=owner,
            data_source=DataSource.DEMO,
            created_at=created,
            updated_at=created,
        )


def ensure_customers(count: int, seed: int, progress=None) -> int:
    """Bring the number of demo customers up to `count`; returns how many were created now."""
    owners = list(User.objects.filter(username__in=SALES_USERNAMES).order_by("username"))
    existing = Customer.objects.filter(data_source=DataSource.DEMO).count()
    now = timezone.now().replace(microsecond=0)
    created = 0
    for start in range(existing, count, BATCH):
        stop = min(start + BATCH, count)
        with transaction.atomic():
            Customer.objects.bulk_create(_rows(start, stop, seed, owners, now), batch_size=BATCH)
        created += stop - start
        if progress:
            progress(existing + created, count)
    if created:
        # Fresh planner statistics: without them SQLite picks poor indexes for scoped lists.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return created
