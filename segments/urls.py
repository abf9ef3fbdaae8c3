from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.SegmentListView.as_view(), name="list"),
    path("new/", views.SegmentFromFiltersView.as_view(), name="create_from_filters"),
    path("<str:slug>/", views.SegmentDetailView.as_view(), name="detail"),
    path("<str:slug>/export.csv", views.segment_members_export, name="export"),
]
