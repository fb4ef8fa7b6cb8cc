from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "loancrm.rules"
    verbose_name = _("自动化规则")

    def ready(self) -> None:
        from loancrm.audit.signals import recorded

        from . import events

        recorded.connect(events.on_audit_recorded, dispatch_uid="rules-events")
        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="rules-defaults")


def _ensure_defaults(**kwargs) -> None:
    from .defaults import ensure_defaults

    ensure_defaults(using=kwargs.get("using", "default"))
