from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.CustomerListView.as_view(), name="list"),
    path("new/", views.CustomerCreateView.as_view(), name="create"),
    path("<int:customer_id>/", views.CustomerDetailView.as_view(), name="detail"),
    path("<int:customer_id>/edit/", views.CustomerEditView.as_view(), name="edit"),
]
