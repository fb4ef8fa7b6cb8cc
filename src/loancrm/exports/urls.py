from django.urls import path

from . import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("customers/", views.export_create, name="create"),
    path("<int:job_id>/", views.export_detail, name="detail"),
    path("<int:job_id>/progress/", views.export_progress, name="progress"),
    path("<int:job_id>/download/", views.export_download, name="download"),
]
