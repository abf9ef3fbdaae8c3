"""One customer: the detail page with its in-place parts (tags, notes, orders), create and edit."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import F, Func, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms import BaseForm
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import CreateView, DetailView, UpdateView
from django_htmx.http import trigger_client_event

from core import registry
from core.forms import form_add_service_error, form_errors_text
from core.visibility import customers_visible_to, notes_visible_to
from customers import selectors, services
from customers.forms import CustomerForm, NoteForm, TagAddForm
from customers.models import Customer, Tag

ORDERS_PER_PAGE = 10
NOTES_PER_PAGE = 10


def announce(response: HttpResponse, message: str) -> HttpResponse:
    """Have the page say ``message`` in its live region once htmx has the response
    (static/js/a11y.js)."""
    trigger_client_event(response, "crm:announce", message)
    return response


def focus_first_error(form: BaseForm) -> None:
    """After an htmx swap, focus goes to the first field in error (marked data-focus); a form
    whose errors belong to no field focuses its first field. The field's aria-invalid and its
    aria-describedby pointing at the message come from Django and crispy-forms."""
    in_error = [name for name in form.fields if name in form.errors]
    name = in_error[0] if in_error else next(iter(form.fields))
    form.fields[name].widget.attrs["data-focus"] = True


def page_announcement(what: str, page) -> str:
    return f"{what}, page {page.number} of {page.paginator.num_pages}"


def repeat_frequency(order_count: int) -> str:
    """How often a customer comes back, in the words staff use."""
    if order_count <= 1:
        return "One-time" if order_count == 1 else "No orders yet"
    if order_count <= 3:
        return "Occasional"
    if order_count <= 9:
        return "Regular"
    return "Frequent"


def counted_paginator(rows, per_page: int, count: int | None = None) -> Paginator:
    """A paginator over ``rows``; given ``count``, it takes it instead of counting again."""
    paginator = Paginator(rows, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: the value given is the one kept
    return paginator


def row_count(rows: QuerySet) -> Coalesce:
    """``rows`` counted, as a subquery (0 when there are none)."""
    counted = rows.order_by().annotate(counted=Func(F("pk"), function="COUNT")).values("counted")
    return Coalesce(Subquery(counted), 0)


def history_counts(request, customer) -> dict[str, int]:
    """How many orders (``order_rows``) and notes (``note_rows``) of ``customer`` the user may
    see, in one query for the two paginators of the customer page."""
    user = request.user
    return (
        Customer.objects.filter(pk=customer.pk)
        .values(
            order_rows=row_count(selectors.customer_orders(user, customer)),
            note_rows=row_count(selectors.customer_notes(user, customer)),
        )
        .get()
    )


def orders_context(request, customer, count: int | None = None) -> dict:
    rows = selectors.customer_orders(request.user, customer)
    paginator = counted_paginator(rows, ORDERS_PER_PAGE, count)
    return {
        "customer": customer,
        "orders_page": paginator.get_page(request.GET.get("orders_page")),
    }


def notes_context(request, customer, form=None, count: int | None = None) -> dict:
    rows = selectors.customer_notes(request.user, customer)
    paginator = counted_paginator(rows, NOTES_PER_PAGE, count)
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
        view_orders = user.has_perm("customers.view_order")
        view_notes = user.has_perm("customers.view_note")
        # Both cards' counts in one query: the page stays within its budget of 20.
        counts = history_counts(self.request, customer) if view_orders and view_notes else {}
        if view_orders:
            context.update(orders_context(self.request, customer, counts.get("order_rows")))
        if view_notes:
            context.update(notes_context(self.request, customer, count=counts.get("note_rows")))
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
    """One page of orders, for the pagination links (htmx): focus goes to the panel's header."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    context = orders_context(request, customer)
    if not request.htmx:
        return render(request, "customers/partials/orders.html", context)
    response = render(request, "customers/partials/orders.html", {**context, "focus_panel": True})
    return announce(response, page_announcement("Orders", context["orders_page"]))


@login_required
@permission_required("customers.view_note", raise_exception=True)
def customer_notes(request, pk):
    """GET: one page of notes (htmx). POST: add a note, then show the notes again."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    if request.method != "POST":
        context = notes_context(request, customer)
        if not request.htmx:
            return render(request, "customers/partials/notes.html", context)
        response = render(
            request, "customers/partials/notes.html", {**context, "focus_panel": True}
        )
        return announce(response, page_announcement("Notes", context["notes_page"]))
    if not request.user.has_perm("customers.add_note"):
        raise PermissionDenied
    form = NoteForm(request.POST)
    note = None
    if form.is_valid():
        try:
            note = services.note_create(customer=customer, author=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_error(form, error)
    if not request.htmx:
        if note is None:
            messages.error(request, "The note was not saved. " + form_errors_text(form))
        else:
            messages.success(request, "Note added.")
        return redirect("customers:detail", pk=customer.pk)
    if note is None:
        focus_first_error(form)
        return render(
            request, "customers/partials/notes.html", notes_context(request, customer, form)
        )
    return _notes_response(request, note, "Note added")


def _notes_response(request, note, announcement: str, *, focus: str = "note"):
    """The notes panel after a change to ``note``, focused on it (the whole note, or its "pin"
    button) or, when it has left the page shown, on the panel's header."""
    context = notes_context(request, note.customer)
    if any(shown.pk == note.pk for shown in context["notes_page"]):
        context.update(focus_note_pk=note.pk, focus_note=focus)
    else:
        context.update(focus_panel=True)
    response = render(request, "customers/partials/notes.html", context)
    return announce(response, announcement)


def _note_changed(request, note, announcement: str):
    if request.htmx:
        return _notes_response(request, note, announcement, focus="pin")
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
    return _note_changed(request, note, "Note pinned" if note.pinned else "Note unpinned")


@require_POST
@login_required
@permission_required("customers.change_note", raise_exception=True)
def note_done(request, note_pk):
    note = get_object_or_404(notes_visible_to(request.user).select_related("customer"), pk=note_pk)
    services.note_complete(note=note)
    if not request.htmx:
        messages.success(request, "Follow-up marked done.")
    return _note_changed(request, note, "Follow-up marked done")


def _tags_response(request, customer, form=None, *, announcement="", focus_tag_pk=None):
    """The tags card (htmx), focused on the tag name input (after an addition or an error) or on
    the remove button of the tag given; without htmx, back to the customer page."""
    if request.htmx:
        context = tags_context(customer, form)
        context.update(focus_tag_pk=focus_tag_pk, focus_tag_input=focus_tag_pk is None)
        response = render(request, "customers/partials/tags.html", context)
        return announce(response, announcement) if announcement else response
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
            tag = services.customer_tag_add(
                customer=customer,
                name=form.cleaned_data["name"],
                added_by=request.user,
                create=request.user.has_perm("customers.add_tag"),
            )
        except ValidationError as error:
            form_add_service_error(form, error)
        else:
            return _tags_response(request, customer, announcement=f"Tag {tag.name} added")
    return _tags_response(request, customer, form)


@require_POST
@login_required
@permission_required(("customers.change_customer", "customers.view_tag"), raise_exception=True)
def customer_tag_remove(request, pk, tag_pk):
    """Take a tag off; focus goes to the next tag's remove button (the previous one's after the
    last tag), or to the tag name input when no tag is left."""
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    tag = get_object_or_404(Tag, pk=tag_pk)
    services.customer_tag_remove(customer=customer, tag=tag, removed_by=request.user)
    left = sorted(customer.tags.all(), key=lambda other: other.name)
    following = [other for other in left if other.name > tag.name] or left[-1:]
    return _tags_response(
        request,
        customer,
        announcement=f"Tag {tag.name} removed",
        focus_tag_pk=following[0].pk if following else None,
    )
