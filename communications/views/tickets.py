"""Staff pages of communications: support tickets.

- ``/communications/tickets/``: the list, filtered (status, priority, assignee, "My tickets");
- ``/communications/tickets/<pk>/``: a ticket's messages, the reply form, its status and
  assignee;
- ``/communications/customers/<pk>/tickets/new/``: a new ticket, from the customer page.

The forms post and come back to the ticket page with a message saying what happened.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django_filters.views import FilterView

from communications import tickets as services
from communications.filters import TicketFilter
from communications.forms import (
    TicketAssignForm,
    TicketOpenForm,
    TicketReplyForm,
    TicketStatusForm,
)
from communications.models import Ticket
from core.forms import (
    error_text,
    form_add_service_error,
    form_errors_text,
    form_labelled_errors,
)
from core.paginators import EstimatedCountPaginator
from core.visibility import customers_visible_to, rows_visible_to
from customers.views.mixins import ForgivingPaginationMixin

MESSAGES_PER_PAGE = 25


def tickets_visible_to(user):
    return rows_visible_to(user, Ticket.objects.all())


class TicketListView(PermissionRequiredMixin, ForgivingPaginationMixin, FilterView):
    permission_required = "communications.view_ticket"
    filterset_class = TicketFilter
    template_name = "communications/ticket_list.html"
    context_object_name = "tickets"
    paginate_by = 25
    paginator_class = EstimatedCountPaginator

    def get_queryset(self):
        return (
            tickets_visible_to(self.request.user)
            .select_related("customer", "assignee")
            .order_by("-updated_at", "-id")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filterset.form
        errors = form_labelled_errors(form) if self.filterset.is_bound else []
        context.update(filter_errors=errors, clear_url=self.request.path)
        return context


def _ticket_page(request, ticket, *, reply_form=None, status_form=None, assign_form=None):
    rows = (
        rows_visible_to(request.user, ticket.messages.all())
        .select_related("staff_user")
        .order_by("occurred_at", "id")
    )
    paginator = Paginator(rows, MESSAGES_PER_PAGE)
    # The conversation reads oldest first; it opens on its latest page.
    page = paginator.get_page(request.GET.get("page") or paginator.num_pages)
    can_change = request.user.has_perm("communications.change_ticket")
    context = {
        "ticket": ticket,
        "customer": ticket.customer,
        "messages_page": page,
        "can_change": can_change,
        "is_closed": ticket.status == Ticket.Status.CLOSED,
    }
    if can_change:
        context.update(
            reply_form=reply_form or TicketReplyForm(),
            status_form=status_form or TicketStatusForm(ticket=ticket),
            assign_form=assign_form or TicketAssignForm(ticket=ticket),
        )
    return render(request, "communications/ticket_detail.html", context)


def _get_ticket(request, pk) -> Ticket:
    return get_object_or_404(
        tickets_visible_to(request.user).select_related("customer", "assignee"), pk=pk
    )


@login_required
@permission_required("communications.view_ticket", raise_exception=True)
def ticket_detail(request, pk):
    return _ticket_page(request, _get_ticket(request, pk))


@login_required
@permission_required("communications.add_ticket", raise_exception=True)
def ticket_create(request, pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    form = TicketOpenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = services.ticket_open(
                customer=customer, opened_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form_add_service_error(form, error)
        else:
            messages.success(request, f"Ticket “{ticket.subject}” opened.")
            return redirect("communications:ticket", pk=ticket.pk)
    return render(
        request,
        "communications/ticket_form.html",
        {"form": form, "customer": customer},
    )


def _back(ticket) -> HttpResponseRedirect:
    return redirect(reverse("communications:ticket", args=[ticket.pk]))


@require_POST
@login_required
@permission_required(
    ("communications.change_ticket", "communications.add_communication"), raise_exception=True
)
def ticket_reply(request, pk):
    ticket = _get_ticket(request, pk)
    form = TicketReplyForm(request.POST)
    if form.is_valid():
        try:
            services.ticket_reply(ticket=ticket, staff_user=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_error(form, error)
        else:
            messages.success(
                request, f"Message added. The ticket is {ticket.get_status_display().lower()}."
            )
            return _back(ticket)
    return _ticket_page(request, ticket, reply_form=form)


@require_POST
@login_required
@permission_required("communications.change_ticket", raise_exception=True)
def ticket_status(request, pk):
    ticket = _get_ticket(request, pk)
    form = TicketStatusForm(request.POST, ticket=ticket)
    if form.is_valid():
        try:
            services.ticket_set_status(ticket=ticket, status=form.cleaned_data["status"])
        except ValidationError as error:
            messages.error(request, error_text(error))
        else:
            messages.success(request, f"The ticket is {ticket.get_status_display().lower()}.")
        return _back(ticket)
    messages.error(request, form_errors_text(form))
    return _ticket_page(request, ticket, status_form=form)


@require_POST
@login_required
@permission_required("communications.change_ticket", raise_exception=True)
def ticket_assign(request, pk):
    ticket = _get_ticket(request, pk)
    form = TicketAssignForm(request.POST, ticket=ticket)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        try:
            services.ticket_assign(ticket=ticket, assignee=assignee)
        except ValidationError as error:
            messages.error(request, error_text(error))
        else:
            who = assignee.get_username() if assignee else "nobody"
            messages.success(request, f"The ticket is assigned to {who}.")
        return _back(ticket)
    messages.error(request, form_errors_text(form))
    return _ticket_page(request, ticket, assign_form=form)


urlpatterns = [
    path("tickets/", TicketListView.as_view(), name="tickets"),
    path("tickets/<int:pk>/", ticket_detail, name="ticket"),
    path("tickets/<int:pk>/reply/", ticket_reply, name="ticket_reply"),
    path("tickets/<int:pk>/status/", ticket_status, name="ticket_status"),
    path("tickets/<int:pk>/assign/", ticket_assign, name="ticket_assign"),
    path("customers/<int:pk>/tickets/new/", ticket_create, name="ticket_create"),
]
