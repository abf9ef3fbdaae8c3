"""Staff and public pages of communications: message templates."""

urlpatterns: list = []
