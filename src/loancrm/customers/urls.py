from django.urls import path

from . import printing, views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("bulk/", views.customer_bulk, name="bulk"),
    path("stage-counts/", views.customer_stage_counts, name="stage_counts"),
    path("pool/", views.pool_list, name="pool"),
    path("pool/<int:customer_id>/claim/", views.pool_claim, name="claim"),
    path("handover/", views.handover, name="handover"),
    path("filters/", views.saved_filter_save, name="filter_save"),
    path("filters/<int:filter_id>/delete/", views.saved_filter_delete, name="filter_delete"),
    path("<int:customer_id>/", views.customer_detail, name="detail"),
    path("<int:customer_id>/edit/", views.customer_edit, name="edit"),
    path("<int:customer_id>/reveal/", views.customer_reveal, name="reveal"),
    path("<int:customer_id>/history/", views.customer_history, name="history"),
    path("<int:customer_id>/print/", printing.customer_print, name="print"),
    path("<int:customer_id>/pdf/", printing.customer_pdf, name="pdf"),
    path("<int:customer_id>/timeline/", views.customer_timeline, name="timeline"),
    path("<int:customer_id>/follow-ups/", views.follow_up_add, name="follow_up_add"),
    path("<int:customer_id>/opt-out/", views.message_opt_out, name="opt_out"),
    path("<int:customer_id>/related/", views.related_person_save, name="related_add"),
    path("<int:customer_id>/related/<int:person_id>/", views.related_person_save, name="related_edit"),
    path("<int:customer_id>/assets/", views.asset_add, name="asset_add"),
    path("<int:customer_id>/assets/form/", views.asset_form, name="asset_form"),
    path("<int:customer_id>/related/form/", views.related_form, name="related_form"),
    path("<int:customer_id>/attachments/", views.attachment_upload, name="attachment_upload"),
    path(
        "<int:customer_id>/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
]
