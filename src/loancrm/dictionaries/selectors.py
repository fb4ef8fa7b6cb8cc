from django.core.cache import cache
from django.db.models import Count, Q

from .models import DictionaryItem

CACHE_KEY = "loancrm:dictionaries:v1"
# Every page reads several dictionaries; one cached query serves them all. Changes clear the cache
# (signals in models.py); other server processes see a change within this many seconds.
CACHE_SECONDS = 60


def _all_items() -> dict[str, list[tuple[str, str, bool]]]:
    items = cache.get(CACHE_KEY)
    if items is None:
        items = {}
        for kind, code, label, active in DictionaryItem.objects.order_by(
            "kind", "sort_order", "id"
        ).values_list("kind", "code", "label", "is_active"):
            items.setdefault(kind, []).append((code, label, active))
        cache.set(CACHE_KEY, items, CACHE_SECONDS)
    return items


def dictionary_cache_clear() -> None:
    cache.delete(CACHE_KEY)


def dictionary_choices(kind: str, *, include_blank: bool = True, keep: str = "") -> list[tuple[str, str]]:
    """Active items of a kind as form choices; `keep` keeps a retired code that a record still holds."""
    choices = [(code, label) for code, label, active in _all_items().get(kind, []) if active or code == keep]
    return ([("", "—")] if include_blank else []) + choices


def dictionary_labels(kind: str, *, active_only: bool = False) -> dict[str, str]:
    """code → label for every item (retired ones too, so old records still read), or only active ones."""
    return {code: label for code, label, active in _all_items().get(kind, []) if active or not active_only}


def dictionary_items(kind: str):
    return DictionaryItem.objects.filter(kind=kind).order_by("sort_order", "id")


def dictionary_kind_counts() -> dict[str, tuple[int, int]]:
    """kind → (all items, active items), in one query."""
    rows = (
        DictionaryItem.objects.order_by()
        .values("kind")
        .annotate(total=Count("id"), active=Count("id", filter=Q(is_active=True)))
        .values_list("kind", "total", "active")
    )
    return {kind: (total, active) for kind, total, active in rows}
