# Placeholder: the follow-ups page is being written.
from django.views.generic import TemplateView


class FollowUpListView(TemplateView):
    template_name = "home.html"
