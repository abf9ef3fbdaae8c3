# Placeholder: the address verification queue is being written.
from django.views.generic import TemplateView


class AddressQueueView(TemplateView):
    template_name = "home.html"


def address_verify(request, address_pk):
    raise NotImplementedError


address_reject = addresses_verify_bulk = address_verify
