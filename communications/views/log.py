"""Staff and public pages of communications: the log of contacts."""

urlpatterns: list = []
