from django.urls import path

from . import views

app_name = "loans"
urlpatterns = [
    path("", views.loan_list, name="list"),
    path("collection/", views.collection, name="collection"),
    path("settings/", views.loan_settings, name="settings"),
    path("customer/<int:customer_id>/", views.customer_loans, name="customer_loans"),
    path("disburse/<int:application_id>/", views.disburse, name="disburse"),
    path("<int:loan_id>/", views.loan_detail, name="detail"),
    path("<int:loan_id>/repayments/", views.repayment_add, name="repayment_add"),
    path("<int:loan_id>/collection/", views.attempt_add, name="attempt_add"),
    path("<int:loan_id>/visits/", views.visit_add, name="visit_add"),
    path("<int:loan_id>/write-off/", views.write_off, name="write_off"),
    path("<int:loan_id>/service-fee/", views.fee_receive, name="fee_receive"),
]
