from django import template
from django.utils.translation import gettext as _

from ..workflow import nodes_of

register = template.Library()


@register.filter
def duration_short(seconds) -> str:
    """3725 → 1小时2分; shown next to each node's time."""
    if seconds in (None, ""):
        return ""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(d)s天%(h)s小时") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s小时%(m)s分") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s分钟") % {"m": minutes}
    return _("%(s)s秒") % {"s": seconds}


@register.filter
def node_name(code: str, definition) -> str:
    for node in nodes_of(definition):
        if node.code == code:
            return str(node)
    return code


@register.filter
def action_name(code: str) -> str:
    from ..services import action_label

    return action_label(code)
