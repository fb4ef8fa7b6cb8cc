from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AuditConfig(AppConfig):
    name = "loancrm.audit"
    verbose_name = pgettext_lazy("app name", "审计")
