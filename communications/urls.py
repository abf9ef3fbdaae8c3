"""The communications pages; each feature's views module declares its own routes."""

from communications.views import campaigns, log, templates, tickets, tracking

app_name = "communications"

urlpatterns = [
    *log.urlpatterns,
    *tickets.urlpatterns,
    *campaigns.urlpatterns,
    *templates.urlpatterns,
    *tracking.urlpatterns,
]
