# Placeholder: customer detail/create/edit pages are being written.
from django.views.generic import TemplateView


class _Page(TemplateView):
    template_name = "home.html"


CustomerCreateView = CustomerDetailView = CustomerUpdateView = _Page


def customer_deactivate(request, pk):
    raise NotImplementedError


customer_orders = customer_tag_add = customer_tag_remove = customer_notes = customer_deactivate
note_pin = note_done = customer_deactivate
