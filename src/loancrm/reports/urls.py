from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("panel/<slug:key>/", views.panel, name="panel"),
    path("export.xlsx", views.export_xlsx, name="export"),
    path("export/<slug:key>.xlsx", views.export_xlsx, name="export_panel"),
    path("export.pdf", views.export_pdf, name="pdf"),
    path("save/", views.report_save, name="save"),
    path("saved/<int:report_id>/delete/", views.report_delete, name="saved_delete"),
    path("channel-costs/", views.channel_costs, name="channel_costs"),
]
