"""The address verification queue: staff verify or reject pending addresses, one by one (htmx or a
plain POST) or several at once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import ListView

from core.forms import form_add_service_error
from core.paginators import EstimatedCountPaginator
from core.visibility import addresses_visible_to
from customers import selectors, services
from customers.forms import AddressRejectForm, AddressVerifyForm
from customers.models import Address
from customers.views.customers import announce, focus_first_error
from customers.views.mixins import ForgivingPaginationMixin

# Larger ids cannot exist and SQLite raises OverflowError on them instead of matching nothing.
MAX_ID = 2**63 - 1
ROW_TEMPLATE = "customers/partials/address_row.html"
DECISION_FIELDS = [
    "verification_status",
    "verified_by",
    "verified_at",
    "verification_notes",
    "latitude",
    "longitude",
]


def _verify_form(address: Address, data=None) -> AddressVerifyForm:
    # One form per row: field ids carry the address so they stay unique on the page.
    return AddressVerifyForm(data, instance=address, auto_id=f"address-{address.pk}-verify-%s")


def _reject_form(address: Address, data=None) -> AddressRejectForm:
    return AddressRejectForm(data, auto_id=f"address-{address.pk}-reject-%s")


def _queue_url(request: HttpRequest) -> str:
    page = request.GET.get("page", "")
    url = reverse("customers:address_queue")
    return f"{url}?page={page}" if page.isdecimal() else url


class AddressQueueView(PermissionRequiredMixin, ForgivingPaginationMixin, ListView):
    permission_required = "customers.view_address"
    template_name = "customers/address_queue.html"
    context_object_name = "addresses"
    paginate_by = 25
    paginator_class = EstimatedCountPaginator

    # Set when a plain POST failed validation: that row is shown with its bound form.
    failed_address: Address | None = None
    failed_form: BaseForm | None = None
    # Set after a bulk verification over htmx: what it did, shown above the list, and where
    # focus goes ("heading", or "select-all" when nothing was selected).
    notice: str = ""
    notice_level: str = "success"
    focus: str = ""

    def get_queryset(self):
        return selectors.addresses_pending(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(context["addresses"])
        failed = self.failed_address
        if failed is not None and failed.pk not in {row.pk for row in rows}:
            rows.insert(0, failed)
        for address in rows:
            address.verify_form = _verify_form(address)
            address.reject_form = _reject_form(address)
            if failed is not None and address.pk == failed.pk:
                if isinstance(self.failed_form, AddressVerifyForm):
                    address.verify_form = self.failed_form
                else:
                    address.reject_form = self.failed_form
        context["addresses"] = rows
        context["counts"] = selectors.address_verification_counts(self.request.user)
        context.update(notice=self.notice, notice_level=self.notice_level, focus=self.focus)
        return context


def _address_for_decision(request: HttpRequest, address_pk: int) -> Address:
    return get_object_or_404(
        addresses_visible_to(request.user).select_related("customer", "verified_by"),
        pk=address_pk,
    )


def _address_restore(address: Address) -> None:
    """Undo what form validation and a failed service call set on the instance: it is shown again
    as the pending row it still is."""
    address.refresh_from_db(fields=DECISION_FIELDS)


def _already_decided(request: HttpRequest, address: Address) -> HttpResponse:
    """Someone else verified or rejected the address since the page was loaded: write nothing."""
    status = address.get_verification_status_display().lower()
    message = f"The address of {address.customer} was already {status}."
    if request.htmx:
        response = render(request, ROW_TEMPLATE, {"address": address, "already_decided": True})
        return announce(response, message)
    messages.warning(request, message)
    return redirect(_queue_url(request))


def _decision_response(
    request: HttpRequest, address: Address, form: BaseForm, *, saved: bool
) -> HttpResponse:
    if request.htmx:
        context = {
            "address": address,
            "page_number": request.GET.get("page", ""),
            "oob_counts": selectors.address_verification_counts(request.user) if saved else None,
        }
        if isinstance(form, AddressVerifyForm):
            context.update(verify_form=form, reject_form=_reject_form(address))
        else:
            context.update(verify_form=_verify_form(address), reject_form=form)
        if not saved:
            # Errors come back with 200 so htmx swaps the row and the messages show at the
            # fields; focus goes to the first field in error.
            focus_first_error(form)
            return render(request, ROW_TEMPLATE, context)
        # A decided row sends focus on to the next pending row (address_row.html).
        status = address.get_verification_status_display().lower()
        return announce(render(request, ROW_TEMPLATE, context), f"Address {status}")
    if saved:
        status = address.get_verification_status_display().lower()
        messages.success(request, f"Address of {address.customer} {status}.")
        return redirect(_queue_url(request))
    messages.error(request, f"The address of {address.customer} was not changed: see below.")
    view = AddressQueueView(failed_address=address, failed_form=form)
    view.setup(request)
    return view.get(request)


def _decide(request: HttpRequest, address_pk: int, make_form, decision) -> HttpResponse:
    """Validate the posted form and apply ``decision(address, cleaned_data)``; errors from the
    form or the service come back at their fields and nothing is written."""
    address = _address_for_decision(request, address_pk)
    if address.verification_status != Address.VerificationStatus.PENDING:
        return _already_decided(request, address)
    form = make_form(address, request.POST)
    saved = False
    if form.is_valid():
        try:
            decision(address, form.cleaned_data)
            saved = True
        except ValidationError as error:
            form_add_service_error(form, error)
    if not saved:
        _address_restore(address)
    return _decision_response(request, address, form, saved=saved)


@login_required
@permission_required("customers.change_address", raise_exception=True)
@require_POST
def address_verify(request: HttpRequest, address_pk: int) -> HttpResponse:
    def verify(address, data):
        services.address_verify(
            address=address,
            verified_by=request.user,
            notes=data["verification_notes"],
            latitude=data["latitude"],
            longitude=data["longitude"],
        )

    return _decide(request, address_pk, _verify_form, verify)


@login_required
@permission_required("customers.change_address", raise_exception=True)
@require_POST
def address_reject(request: HttpRequest, address_pk: int) -> HttpResponse:
    def reject(address, data):
        services.address_reject(
            address=address, verified_by=request.user, notes=data["verification_notes"]
        )

    return _decide(request, address_pk, _reject_form, reject)


@login_required
@permission_required("customers.change_address", raise_exception=True)
@require_POST
def addresses_verify_bulk(request: HttpRequest) -> HttpResponse:
    address_ids = {
        int(value)
        for value in request.POST.getlist("address_ids")
        if value.isdecimal() and 0 < int(value) <= MAX_ID
    }
    if not address_ids:
        message = "Select the addresses to verify first."
        if request.htmx:
            return _queue_after_bulk(request, message, level="warning", focus="select-all")
        messages.warning(request, message)
        return redirect(_queue_url(request))
    visible = addresses_visible_to(request.user).filter(pk__in=address_ids)
    verified = services.addresses_verify(addresses=visible, verified_by=request.user)
    noun = "address" if verified == 1 else "addresses"
    message = f"{verified} {noun} verified."
    if request.htmx:
        return _queue_after_bulk(request, message, level="success", focus="heading")
    messages.success(request, message)
    return redirect(_queue_url(request))


def _queue_after_bulk(request: HttpRequest, message: str, *, level: str, focus: str):
    """The queue page again, saying ``message`` above the list and in the live region; htmx
    takes the page's #address-queue-page from it (address_queue.html)."""
    view = AddressQueueView(notice=message, notice_level=level, focus=focus)
    view.setup(request)
    response = view.get(request)
    return announce(response, message.rstrip("."))
