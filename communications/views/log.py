"""Staff and public pages of communications: the log of contacts.

- ``/communications/``: every contact, filtered and paged (core/paginators.py), newest first;
- ``/communications/customers/<pk>/log/``: "Log a contact" from the customer page (htmx redraws
  the Communications panel; without JavaScript the form posts and comes back to the page).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_POST
from django_filters.views import FilterView

from communications.filters import CommunicationFilter
from communications.forms import CommunicationLogForm
from communications.models import Communication
from communications.panels import communications_panel_context
from communications.services import communication_log
from core.forms import form_add_service_error, form_errors_text, form_labelled_errors
from core.paginators import EstimatedCountPaginator
from core.visibility import customers_visible_to, rows_visible_to
from customers.views.customers import announce, focus_first_error
from customers.views.mixins import ForgivingPaginationMixin


class CommunicationListView(PermissionRequiredMixin, ForgivingPaginationMixin, FilterView):
    permission_required = "communications.view_communication"
    filterset_class = CommunicationFilter
    template_name = "communications/log_list.html"
    context_object_name = "communications"
    paginate_by = 25
    # A capped count (CRM_LIST_COUNT_CAP), or the planner's estimate of a whole big table.
    paginator_class = EstimatedCountPaginator

    def get_queryset(self):
        return (
            rows_visible_to(self.request.user, Communication.objects.all())
            .select_related("customer", "staff_user", "campaign", "ticket")
            .defer("body", "metadata", "error")
            .order_by("-occurred_at", "-id")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filterset.form
        errors = form_labelled_errors(form) if self.filterset.is_bound else []
        active = [name for name in form.fields if self.request.GET.get(name)]
        context.update(
            filter_errors=errors,
            active_filter_count=len(active),
            clear_url=self.request.path,
        )
        return context


def _panel_response(request, customer, form=None, *, announcement="", focus_pk=None):
    """The Communications panel redrawn (htmx); focus on the new contact, or on the first field
    in error."""
    context = communications_panel_context(request, customer, form)
    context.update(focus_pk=focus_pk)
    response = render(
        request,
        "communications/panel.html",
        {"panel": context, "customer": customer},
    )
    return announce(response, announcement) if announcement else response


@require_POST
@login_required
@permission_required(
    ("communications.add_communication", "communications.view_communication"),
    raise_exception=True,
)
def log_contact(request, pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    form = CommunicationLogForm(request.POST)
    logged = None
    if form.is_valid():
        try:
            logged = communication_log(
                customer=customer, staff_user=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form_add_service_error(form, error)
    if not request.htmx:
        if logged is None:
            messages.error(request, "The contact was not logged. " + form_errors_text(form))
        else:
            messages.success(request, f"{logged.get_channel_display()} logged.")
        return redirect("customers:detail", pk=customer.pk)
    if logged is None:
        focus_first_error(form)
        return _panel_response(request, customer, form, announcement="The contact was not logged")
    return _panel_response(
        request,
        customer,
        announcement=f"{logged.get_channel_display()} logged",
        focus_pk=logged.pk,
    )


urlpatterns = [
    path("", CommunicationListView.as_view(), name="log"),
    path("customers/<int:pk>/log/", log_contact, name="log_contact"),
]
