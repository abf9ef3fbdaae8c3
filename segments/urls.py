from django.urls import path

from segments import builder, views

app_name = "segments"

urlpatterns = [
    path("", views.SegmentListView.as_view(), name="list"),
    path("new/", views.SegmentFromFiltersView.as_view(), name="create_from_filters"),
    path("build/", builder.SegmentBuildView.as_view(), name="build"),
    path("build/rows/", builder.builder_rows, name="builder_rows"),
    path("build/preview/", builder.builder_preview, name="builder_preview"),
    path("<str:slug>/", views.SegmentDetailView.as_view(), name="detail"),
    path("<str:slug>/edit/", builder.SegmentEditView.as_view(), name="edit"),
    path("<str:slug>/export.csv", views.segment_members_export, name="export"),
    path("<str:slug>/bulk/", views.SegmentBulkActionView.as_view(), name="bulk"),
    path("<str:slug>/bulk/<int:pk>/", views.BulkActionDetailView.as_view(), name="bulk_action"),
    path("<str:slug>/bulk/<int:pk>/run/", views.bulk_action_run_again, name="bulk_action_run"),
]
