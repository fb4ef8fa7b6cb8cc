from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from loancrm.accounts import api as accounts_api
from loancrm.audit import api as audit_api
from loancrm.customers import api as customers_api
from loancrm.intake import api as intake_api
from loancrm.loans import api as loans_api
from loancrm.notifications import api as notifications_api

urlpatterns = [
    path("auth/token/", accounts_api.ObtainToken.as_view(), name="api-token"),
    path("me/", accounts_api.Me.as_view(), name="api-me"),
    path("customers/", customers_api.CustomerList.as_view(), name="api-customer-list"),
    path("customers/<int:pk>/", customers_api.CustomerDetail.as_view(), name="api-customer-detail"),
    path("customers/<int:pk>/reveal/", customers_api.CustomerReveal.as_view(), name="api-customer-reveal"),
    path("products/", intake_api.ProductList.as_view(), name="api-product-list"),
    path("applications/", intake_api.ApplicationList.as_view(), name="api-application-list"),
    path("applications/<int:pk>/", intake_api.ApplicationDetail.as_view(), name="api-application-detail"),
    path(
        "applications/<int:pk>/actions/",
        intake_api.ApplicationAction.as_view(),
        name="api-application-action",
    ),
    path(
        "applications/<int:pk>/materials/",
        intake_api.ApplicationMaterials.as_view(),
        name="api-application-materials",
    ),
    path("loans/", loans_api.LoanList.as_view(), name="api-loan-list"),
    path("loans/<int:pk>/", loans_api.LoanDetail.as_view(), name="api-loan-detail"),
    path("loans/<int:pk>/repayments/", loans_api.LoanRepayments.as_view(), name="api-loan-repayments"),
    path("notifications/", notifications_api.NotificationList.as_view(), name="api-notification-list"),
    path("deliveries/", notifications_api.DeliveryList.as_view(), name="api-delivery-list"),
    path("audit/", audit_api.AuditEntryList.as_view(), name="api-audit-list"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
