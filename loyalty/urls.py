from django.urls import path

from loyalty import views

app_name = "loyalty"

urlpatterns = [
    path("accounts/<int:pk>/redeem/", views.account_redeem, name="redeem"),
    path("customers/<int:customer_pk>/enrol/", views.enrol_options, name="enrol_options"),
    path(
        "customers/<int:customer_pk>/enrol/<int:program_pk>/",
        views.customer_enrol,
        name="enrol",
    ),
]
