from django.urls import path

from . import template, views

app_name = "imports"
urlpatterns = [
    path("", views.batch_list, name="list"),
    path("template.xlsx", template.blank_template, name="blank_template"),
    path("example.xlsx", template.example_sheet, name="example_sheet"),
    path("unmapped/", views.unmapped_values, name="unmapped"),
    path("templates/<int:template_id>/delete/", views.template_delete, name="template_delete"),
    path("<int:batch_id>/", views.batch_detail, name="detail"),
    path("<int:batch_id>/progress/", views.batch_progress, name="progress"),
    path("<int:batch_id>/apply-template/", views.template_apply, name="template_apply"),
    path("<int:batch_id>/undo/", views.batch_undo, name="undo"),
    path("<int:batch_id>/<str:which>/", views.batch_file, name="file"),
]
