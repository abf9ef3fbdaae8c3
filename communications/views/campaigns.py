"""Staff and public pages of communications: campaigns."""

urlpatterns: list = []
