from django.urls import path

from . import views

app_name = "dictionaries"

urlpatterns = [
    path("settings/dictionaries/", views.kind_list, name="kind_list"),
    path("settings/dictionaries/<slug:kind>/", views.kind_detail, name="kind_detail"),
    path("settings/dictionaries/<slug:kind>/<int:item_id>/", views.item_edit, name="item_edit"),
    path(
        "settings/dictionaries/<slug:kind>/<int:item_id>/<slug:action>/",
        views.item_action,
        name="item_action",
    ),
]
