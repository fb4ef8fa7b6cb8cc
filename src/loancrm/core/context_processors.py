from django.urls import reverse

from .navigation import SECTIONS


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = getattr(request, "resolver_match", None)
    ns = current.namespace if current else ""
    url_name = current.url_name if current else ""
    items = []
    for s in SECTIONS:
        if s.perm is not None and not user.has_perm_code(s.perm):
            continue
        active = (
            (ns == "core" and url_name in (s.url_name.split(":")[1], f"section_{s.key}"))
            or (s.key == "customers" and ns == "customers")
            or (s.key == "settings" and ns in ("accounts", "audit") and url_name not in ("login",))
        )
        items.append({"key": s.key, "label": s.label, "url": reverse(s.url_name), "active": active})
    return {"nav_items": items}
