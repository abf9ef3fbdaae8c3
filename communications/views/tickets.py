"""Staff and public pages of communications: support tickets."""

urlpatterns: list = []
