"""One customer: the detail page with its in-place parts (tags, notes, orders), create and edit."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import CreateView, DetailView, UpdateView

from core import registry
from core.forms import form_add_service_error, form_errors_text
from core.visibility import customers_visible_to, notes_visible_to
from customers import selectors, services
from customers.forms import CustomerForm, NoteForm, TagAddForm
from customers.models import Customer, Tag

ORDERS_PER_PAGE = 10
NOTES_PER_PAGE = 10


def repeat_frequency(order_count: int) -> str:
    """How often a customer comes back, in the words staff use."""
    if order_count <= 1:
        return "One-time" if order_count == 1 else "No orders yet"
    if order_count <= 3:
        return "Occasional"
    if order_count <= 9:
        return "Regular"
    return "Frequent"


def orders_context(request, customer) -> dict:
    paginator = Paginator(selectors.customer_orders(request.user, customer), ORDERS_PER_PAGE)
    return {
        "customer": customer,
        "orders_page": paginator.get_page(request.GET.get("orders_page")),
    }


def notes_context(request, customer, form=None) -> dict:
    paginator = Paginator(selectors.customer_notes(request.user, customer), NOTES_PER_PAGE)
    return {
        "customer": customer,
        "notes_page": paginator.get_page(request.GET.get("notes_page")),
        "note_form": form or NoteForm(),
        "today": timezone.localdate(),
    }


def tags_context(customer, form=None) -> dict:
    """The tags card's context: the page (tags prefetched, in name order) and its htmx partial."""
    return {
        "customer": customer,
        "customer_tags": sorted(customer.tags.all(), key=lambda tag: tag.name),
        "tag_form": form or TagAddForm(),
        "tag_names": Tag.objects.order_by("name").values_list("name", flat=True)[:200],
    }


class CustomerDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "customers.view_customer"
    template_name = "customers/customer_detail.html"
    context_object_name = "customer"

    def get_queryset(self):
        return selectors.customer_detail(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = self.object
        user = self.request.user
        days_since = (
            (timezone.now() - customer.last_order_at).days if customer.last_order_at else None
        )
        context.update(
            days_since_last_order=days_since,
            repeat_frequency=repeat_frequency(customer.order_count),
            panels=registry.panels_for(self.request, customer),
            timeline=registry.timeline_for(self.request, customer),
        )
        # Each card shows only what the user may view; the template checks the same permissions.
        if user.has_perm("customers.view_address"):
            context.update(addresses=list(customer.addresses.all()))
        if user.has_perm("customers.view_tag"):
            context.update(tags_context(customer))
        if user.has_perm("customers.view_order"):
            context.update(orders_context(self.request, customer))
        if user.has_perm("customers.view_note"):
            context.update(notes_context(self.request, customer))
        return context


class CustomerFormMixin(PermissionRequiredMixin):
    model = Customer
    form_class = CustomerForm
    template_name = "customers/customer_form.html"

    def get_queryset(self):
        return customers_visible_to(self.request.user)

    def save(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            self.object = self.save(form)
        except ValidationError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved {self.object}.")
        return HttpResponseRedirect(reverse("customers:detail", args=[self.object.pk]))


class CustomerCreateView(CustomerFormMixin, CreateView):
    permission_required = "customers.add_customer"

    def save(self, form):
        return services.customer_create(**form.cleaned_data)


class CustomerUpdateView(CustomerFormMixin, UpdateView):
    permission_required = "customers.change_customer"

    def save(self, form):
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        return services.customer_update(customer=self.get_object(), **fields)


@login_required
@permission_required("customers.change_customer", raise_exception=True)
def customer_deactivate(request, pk):
    """ "Delete" in the staff UI: ask, then set the customer inactive."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    if request.method == "POST":
        services.customer_deactivate(customer=customer)
        messages.success(request, f"{customer} is now inactive.")
        return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_confirm_deactivate.html", {"customer": customer})


@login_required
@permission_required("customers.view_order", raise_exception=True)
def customer_orders(request, pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    return render(request, "customers/partials/orders.html", orders_context(request, customer))


@login_required
@permission_required("customers.view_note", raise_exception=True)
def customer_notes(request, pk):
    """GET: one page of notes (htmx). POST: add a note, then show the notes again."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    form = None
    if request.method == "POST":
        if not request.user.has_perm("customers.add_note"):
            raise PermissionDenied
        form = NoteForm(request.POST)
        if form.is_valid():
            try:
                services.note_create(customer=customer, author=request.user, **form.cleaned_data)
            except ValidationError as error:
                form_add_service_error(form, error)
            else:
                form = None
                if not request.htmx:
                    messages.success(request, "Note added.")
                    return redirect("customers:detail", pk=customer.pk)
        if form is not None and not request.htmx:
            messages.error(request, "The note was not saved. " + form_errors_text(form))
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/partials/notes.html", notes_context(request, customer, form))


def _note_changed(request, note):
    if request.htmx:
        return render(
            request, "customers/partials/notes.html", notes_context(request, note.customer)
        )
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return redirect(next_url)
    return redirect("customers:detail", pk=note.customer_id)


@require_POST
@login_required
@permission_required("customers.change_note", raise_exception=True)
def note_pin(request, note_pk):
    note = get_object_or_404(notes_visible_to(request.user).select_related("customer"), pk=note_pk)
    services.note_set_pinned(note=note, pinned=not note.pinned)
    return _note_changed(request, note)


@require_POST
@login_required
@permission_required("customers.change_note", raise_exception=True)
def note_done(request, note_pk):
    note = get_object_or_404(notes_visible_to(request.user).select_related("customer"), pk=note_pk)
    services.note_complete(note=note)
    if not request.htmx:
        messages.success(request, "Follow-up marked done.")
    return _note_changed(request, note)


def _tags_response(request, customer, form=None):
    if request.htmx:
        return render(request, "customers/partials/tags.html", tags_context(customer, form))
    if form is not None and form.errors:
        messages.error(request, form_errors_text(form))
    return redirect("customers:detail", pk=customer.pk)


@require_POST
@login_required
@permission_required(("customers.change_customer", "customers.view_tag"), raise_exception=True)
def customer_tag_add(request, pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    form = TagAddForm(request.POST)
    if form.is_valid():
        try:
            services.customer_tag_add(
                customer=customer,
                name=form.cleaned_data["name"],
                added_by=request.user,
                create=request.user.has_perm("customers.add_tag"),
            )
        except ValidationError as error:
            form_add_service_error(form, error)
        else:
            form = None
    return _tags_response(request, customer, form)


@require_POST
@login_required
@permission_required(("customers.change_customer", "customers.view_tag"), raise_exception=True)
def customer_tag_remove(request, pk, tag_pk):
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    services.customer_tag_remove(customer=customer, tag=get_object_or_404(Tag, pk=tag_pk))
    return _tags_response(request, customer)
