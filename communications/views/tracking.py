"""Public pages of communications: the links in sent messages (open pixel, clicks,
unsubscribe) and the SMS webhook."""

urlpatterns: list = []
