from django.urls import path

from . import views

app_name = "intake"
urlpatterns = [
    path("", views.application_list, name="list"),
    path("todo/", views.todo, name="todo"),
    path("new/", views.application_create, name="create"),
    path("<int:application_id>/", views.application_detail, name="detail"),
    path("<int:application_id>/action/", views.application_action, name="action"),
    path("<int:application_id>/reassign/", views.application_reassign, name="reassign"),
    path("<int:application_id>/materials/", views.material_upload, name="material_upload"),
    path("<int:application_id>/links/", views.link_create, name="link_create"),
    path("materials/<int:material_id>/", views.material_fragment, name="material_fragment"),
    path("materials/<int:material_id>/review/", views.material_review, name="material_review"),
    path("materials/<int:material_id>/ocr/", views.material_ocr_confirm, name="material_ocr"),
    path("links/<int:link_id>/revoke/", views.link_revoke, name="link_revoke"),
    path("<int:application_id>/problems/", views.problem_create, name="problem_create"),
    path("problems/<int:problem_id>/resolve/", views.problem_resolve, name="problem_resolve"),
    path("products/", views.product_list, name="products"),
    path("products/new/", views.product_edit, name="product_create"),
    path("products/<int:product_id>/", views.product_edit, name="product_edit"),
    path("workflow/", views.workflow_view, name="workflow"),
    path("workflow/edit/", views.workflow_edit, name="workflow_edit"),
    path("assignment/", views.assignment_rules, name="assignment"),
    path("u/<str:token>/", views.public_upload, name="public_upload"),
    path("s/<str:token>/", views.public_survey, name="public_survey"),
]
