from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from crm import views

admin.site.site_header = "CRM administration"
admin.site.site_title = "CRM admin"

handler500 = "core.views.server_error"

urlpatterns = [
    path("", views.dashboard, name="home"),
    path("health/", views.health, name="health"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", views.favicon),
    path("customers/", include("customers.urls")),
    path("loyalty/", include("loyalty.urls")),
    path("segments/", include("segments.urls")),
    path("communications/", include("communications.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
