from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DictionariesConfig(AppConfig):
    name = "loancrm.dictionaries"
    verbose_name = _("数据字典")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_ensure_defaults, sender=self)


def _ensure_defaults(sender, **kwargs) -> None:
    from .services import dictionaries_ensure_defaults

    dictionaries_ensure_defaults()
