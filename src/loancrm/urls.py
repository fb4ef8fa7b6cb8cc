from django.contrib import admin
from django.urls import include, path

from loancrm.core import views as core_views

urlpatterns = [
    path("", include("loancrm.core.urls")),
    path("", include("loancrm.accounts.urls")),
    path("", include("loancrm.audit.urls")),
    path("", include("loancrm.dictionaries.urls")),
    path("customers/", include("loancrm.customers.urls")),
    path("imports/", include("loancrm.imports.urls")),
    path("exports/", include("loancrm.exports.urls")),
    path("intake/", include("loancrm.intake.urls")),
    path("loans/", include("loancrm.loans.urls")),
    path("notifications/", include("loancrm.notifications.urls")),
    path("rules/", include("loancrm.rules.urls")),
    path("reports/", include("loancrm.reports.urls")),
    path("api/v1/", include("loancrm.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
]

handler403 = "loancrm.core.errors.permission_denied"
handler404 = "loancrm.core.errors.not_found"
handler500 = "loancrm.core.errors.server_error"
