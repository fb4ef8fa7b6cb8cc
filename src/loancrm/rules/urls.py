from django.urls import path

from . import views

app_name = "rules"
urlpatterns = [
    path("", views.rule_list, name="list"),
    path("new/", views.rule_create, name="create"),
    path("<int:rule_id>/", views.rule_edit, name="edit"),
    path("<int:rule_id>/toggle/", views.rule_toggle, name="toggle"),
    path("templates/", views.template_list, name="templates"),
    path("templates/new/", views.template_edit, name="template_create"),
    path("templates/<int:template_id>/", views.template_edit, name="template_edit"),
]
