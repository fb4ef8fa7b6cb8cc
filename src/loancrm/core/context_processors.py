import functools

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from .navigation import SECTIONS


@functools.lru_cache(maxsize=16)
def _section_urls(script_prefix: str, urlconf: str) -> dict[str, str]:
    # reverse() for every section on every page was a measurable part of each request; the URLs only
    # change with the script prefix and the URLconf, which are the cache key.
    return {s.key: reverse(s.url_name, urlconf=urlconf) for s in SECTIONS}


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = getattr(request, "resolver_match", None)
    ns = current.namespace if current else ""
    url_name = current.url_name if current else ""
    urls = _section_urls(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    items = []
    for s in SECTIONS:
        if s.perm is not None and not user.has_perm_code(s.perm):
            continue
        active = (
            (ns == "core" and url_name in (s.url_name.split(":")[1], f"section_{s.key}"))
            or (s.key == "customers" and ns == "customers")
            or (s.key == "intake" and ns == "intake" and url_name != "todo")
            or (s.key == "todo" and ns == "intake" and url_name == "todo")
            or (s.key == "loans" and ns == "loans" and url_name != "collection")
            or (s.key == "postloan" and ns == "loans" and url_name == "collection")
            or (s.key == "reports" and ns == "reports")
            or (s.key == "rules" and (ns == "rules" or (ns == "notifications" and url_name == "deliveries")))
            or (s.key == "settings" and ns in ("accounts", "audit") and url_name not in ("login",))
        )
        item = {"key": s.key, "label": s.label, "url": urls[s.key], "active": active}
        if s.key == "todo":
            from loancrm.intake.selectors import todo_count

            item["count"] = todo_count(user)
        if s.key == "postloan":
            from loancrm.loans.selectors import collection_due_count

            item["count"] = collection_due_count(user)
        items.append(item)
    from loancrm.notifications.selectors import unread_count

    return {"nav_items": items, "unread_notifications": unread_count(user)}
