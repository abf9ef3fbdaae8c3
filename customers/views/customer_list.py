# Placeholder: the customer list is being written.
from django.views.generic import TemplateView


class CustomerListView(TemplateView):
    template_name = "home.html"
