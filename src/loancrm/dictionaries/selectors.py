from .models import DictionaryItem


def dictionary_choices(kind: str, *, include_blank: bool = True, keep: str = "") -> list[tuple[str, str]]:
    """Active items of a kind as form choices; `keep` keeps a retired code that a record still holds."""
    items = list(DictionaryItem.objects.filter(kind=kind).values_list("code", "label", "is_active"))
    choices = [(code, label) for code, label, active in items if active or code == keep]
    return ([("", "—")] if include_blank else []) + choices


def dictionary_labels(kind: str) -> dict[str, str]:
    """code → label for every item (retired ones too, so old records still read)."""
    return dict(DictionaryItem.objects.filter(kind=kind).values_list("code", "label"))


def dictionary_items(kind: str):
    return DictionaryItem.objects.filter(kind=kind).order_by("sort_order", "id")
