from django import template

register = template.Library()


@register.filter
def can(user, perm: str) -> bool:
    """{% if user|can:"users.manage" %} — the same check the views and services make."""
    return bool(getattr(user, "is_authenticated", False) and user.has_perm_code(perm))


@register.simple_tag
def sort_query(query: str, field: str, current: str) -> str:
    """Query string that sorts by `field`, flipping direction when it is already the sort key."""
    from django.http import QueryDict

    q = QueryDict(query, mutable=True)
    q["sort"] = f"-{field}" if current == field else field
    return q.urlencode()


@register.filter
def repeat(text: str, times: int) -> str:
    return text * max(int(times or 0), 0)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None
