"""Pagination that stays fast on a million rows: counting stops at a cap."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (SELECT COUNT(*) FROM (… LIMIT n)), so a broad filter over a
    million customers does not scan them all just to print a total. `capped` says the total is "10,000+";
    narrowing the filter shows the exact figure."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: COUNT_CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP
