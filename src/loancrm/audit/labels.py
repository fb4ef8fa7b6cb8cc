"""Words for the audit log's machine codes, so that the log reads as sentences to an auditor."""

from django.apps import apps
from django.utils.translation import gettext_lazy as _

SYSTEM_ACTORS = {"cli": _("系统（命令行）"), "worker": _("系统（后台任务）")}

EXTRA_KEYS = {
    "via": _("方式"),
    "reason": _("原因"),
    "permission": _("所需权限"),
    "path": _("页面"),
    "ip": _("IP 地址"),
    "customers": _("客户数"),
    "created": _("新建"),
    "seed": _("随机种子"),
}
EXTRA_VALUES = {
    ("via", "web"): _("网页"),
    ("via", "api"): _("API"),
    ("reason", "bad_credentials"): _("用户名或密码错误"),
    ("reason", "locked"): _("账户已锁定"),
}

AUDITED_MODELS = [
    ("accounts", "user"),
    ("accounts", "department"),
    ("accounts", "role"),
    ("customers", "customer"),
    ("dictionaries", "dictionaryitem"),
    ("core", "systemsetting"),
]


def object_type_label(model_name: str) -> str:
    for app_label, name in AUDITED_MODELS:
        if name == model_name:
            return str(apps.get_model(app_label, name)._meta.verbose_name)
    return model_name


def object_type_choices() -> list[tuple[str, str]]:
    return [(name, object_type_label(name)) for _app, name in AUDITED_MODELS]


def extra_items(extra: dict) -> list[tuple[str, str]]:
    from loancrm.accounts.permissions import PERM_LABELS, Perm

    items = []
    for key, value in (extra or {}).items():
        shown = EXTRA_VALUES.get((key, value), value)
        if key == "permission" and value in Perm._value2member_map_:
            shown = PERM_LABELS[Perm(value)]
        items.append((str(EXTRA_KEYS.get(key, key)), str(shown)))
    return items


def actor_label(entry) -> str:
    if entry.actor_id:
        return entry.actor.display_name if entry.actor else entry.actor_username
    return str(SYSTEM_ACTORS.get(entry.actor_username, entry.actor_username or "—"))


def change_items(entry) -> list[tuple[str, object, object]]:
    """(field's verbose name, before, after) for each change of the entry."""
    model = None
    for app_label, name in AUDITED_MODELS:
        if name == entry.object_type:
            model = apps.get_model(app_label, name)
    rows = []
    for field, pair in (entry.changes or {}).items():
        label = field
        if model is not None:
            try:
                label = str(model._meta.get_field(field).verbose_name)
            except Exception:  # a field since removed: show its code
                label = field
        before, after = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        rows.append((label, before, after))
    return rows
