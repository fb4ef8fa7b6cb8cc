from django.urls import path

from . import views

app_name = "core"
urlpatterns = [
    path("", views.workbench, name="workbench"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/system/", views.system_settings, name="system_settings"),
]
