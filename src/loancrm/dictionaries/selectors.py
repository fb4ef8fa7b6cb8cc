from django.db.models import Count, Q

from .models import DictionaryItem


def dictionary_choices(kind: str, *, include_blank: bool = True, keep: str = "") -> list[tuple[str, str]]:
    """Active items of a kind as form choices; `keep` keeps a retired code that a record still holds."""
    items = list(DictionaryItem.objects.filter(kind=kind).values_list("code", "label", "is_active"))
    choices = [(code, label) for code, label, active in items if active or code == keep]
    return ([("", "—")] if include_blank else []) + choices


def dictionary_labels(kind: str, *, active_only: bool = False) -> dict[str, str]:
    """code → label for every item (retired ones too, so old records still read), or only active ones."""
    qs = DictionaryItem.objects.filter(kind=kind)
    if active_only:
        qs = qs.filter(is_active=True)
    return dict(qs.values_list("code", "label"))


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
