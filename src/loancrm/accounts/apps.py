from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "loancrm.accounts"
    verbose_name = _("账户与组织")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import signals  # noqa: F401  (log-in auditing)

        post_migrate.connect(_ensure_roles, sender=self)


def _ensure_roles(sender, **kwargs) -> None:
    from .services import roles_ensure_defaults

    roles_ensure_defaults()
