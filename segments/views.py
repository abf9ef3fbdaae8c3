"""The staff pages of segments: the list, a segment with its members, the members' CSV, a new
segment made from the customer list's filters, and bulk actions on the members."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.generic import CreateView, DetailView, FormView, ListView
from django_htmx.http import trigger_client_event

from core.forms import form_add_service_error
from core.paginators import IdsFirstPaginator
from customers.filters import CustomerFilter
from customers.models import Customer, Tag
from customers.views.mixins import ForgivingPaginationMixin
from customers.views.sorting import CustomerTableMixin
from segments import services
from segments.bulk import BULK_PERMISSIONS, bulk_action_start, bulk_kinds_for
from segments.exports import members_csv_response
from segments.forms import BulkActionForm, SegmentFromFiltersForm
from segments.from_filters import rules_from_list_query
from segments.models import BulkAction, Segment, SegmentMembership
from segments.rules import rules_describe
from segments.tasks import bulk_action_run

SEGMENTS_PER_PAGE = 25
# The most customers one can tick on a segment's page and act on as a selection (a page shows at
# most 100); acting on more is acting on all members.
MAX_SELECTED = 500


def with_manual_count(segments):
    """Segments with ``manual_count``, their members added by hand, from a subquery: the list's
    count then reads the segment table alone."""
    manual = (
        SegmentMembership.objects.filter(segment=OuterRef("pk"))
        .order_by()
        .values("segment")
        .annotate(count=Count("id"))
        .values("count")
    )
    return segments.annotate(manual_count=Coalesce(Subquery(manual), 0))


class SegmentListView(PermissionRequiredMixin, ListView):
    permission_required = "segments.view_segment"
    template_name = "segments/segment_list.html"
    context_object_name = "segments"
    paginate_by = SEGMENTS_PER_PAGE

    def get_queryset(self):
        return with_manual_count(Segment.objects.order_by("name", "id"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for segment in context["segments"]:
            segment.rules_text = rules_describe(segment.rules)
        return context


class SegmentDetailView(
    PermissionRequiredMixin, CustomerTableMixin, ForgivingPaginationMixin, ListView
):
    """A segment's summary, then its members as the customer list shows customers: the same
    columns, sort links and pages, counted live (capped, core/paginators.py)."""

    permission_required = "segments.view_segment"
    template_name = "segments/segment_detail.html"
    context_object_name = "customers"
    paginator_class = IdsFirstPaginator

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.segment = None

    def get_segment(self) -> Segment:
        if self.segment is None:
            running = BulkAction.objects.filter(
                segment=OuterRef("pk"),
                status__in=[BulkAction.Status.QUEUED, BulkAction.Status.RUNNING],
            ).order_by("-created_at", "-id")
            self.segment = get_object_or_404(
                with_manual_count(Segment.objects.all()).annotate(
                    running_action=Subquery(running.values("pk")[:1])
                ),
                slug=self.kwargs["slug"],
            )
        return self.segment

    def shows_members(self) -> bool:
        return self.request.user.has_perm("customers.view_customer")

    def get_queryset(self):
        segment = self.get_segment()
        # Only the sort of the list's parameters applies here: the segment chooses who is in it.
        sort = QueryDict(mutable=True)
        if self.request.GET.get("sort"):
            sort["sort"] = self.request.GET["sort"]
        members = (
            segment.customers(self.request.user).prefetch_related(
                Prefetch("tags", queryset=Tag.objects.order_by("name"))
            )
            if self.shows_members()
            else Customer.objects.none()
        )
        self.filterset = CustomerFilter(sort, queryset=members)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        requested_sort = self.filterset.data.get("sort", "").split(",")[0]
        context.update(
            {
                **self.customer_table_context(context["customers"], requested_sort),
                "segment": self.segment,
                "rules_text": rules_describe(self.segment.rules),
                "shows_members": self.shows_members(),
                "bulk_kinds": bulk_kinds_for(self.request.user) if self.shows_members() else [],
                "filter": self.filterset,
                "filter_errors": [],
                "has_search_or_filters": False,
            }
        )
        return context


@login_required
@permission_required(["segments.view_segment", "customers.view_customer"], raise_exception=True)
def segment_members_export(request, slug: str):
    segment = get_object_or_404(Segment, slug=slug)
    return members_csv_response(segment, request.user)


class SegmentFromFiltersView(PermissionRequiredMixin, CreateView):
    """A new segment whose rules are the customer list's filters, given in the query string."""

    permission_required = "segments.add_segment"
    template_name = "segments/segment_from_filters.html"
    form_class = SegmentFromFiltersForm

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.rules, self.refusals = None, []
        try:
            self.rules = rules_from_list_query(request.GET)
        except ValidationError as error:
            self.refusals = error.messages

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Segment(rules=self.rules or {})
        return kwargs

    def post(self, request, *args, **kwargs):
        if self.rules is None:
            return self.get(request, *args, **kwargs)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            segment = services.segment_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                rules=self.rules,
            )
        except ValidationError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Segment “{segment.name}” saved.")
        return redirect("segments:detail", slug=segment.slug)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        list_query = self.request.GET.urlencode()
        context.update(
            {
                "rules": self.rules,
                "rules_text": rules_describe(self.rules) if self.rules else "",
                "refusals": self.refusals,
                "list_query": f"?{list_query}" if list_query else "",
            }
        )
        return context


class SegmentBulkActionView(PermissionRequiredMixin, FormView):
    """Choose what to do with the segment's members (all, or those ticked on its page), then
    start it: done at once for a few thousand customers, else in the background, with its
    progress on the action's page."""

    permission_required = ("segments.view_segment", "customers.view_customer")
    template_name = "segments/bulk_action_form.html"
    form_class = BulkActionForm

    def has_permission(self) -> bool:
        return super().has_permission() and bool(bulk_kinds_for(self.request.user))

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.segment = get_object_or_404(Segment, slug=kwargs["slug"])
        data = request.POST if request.method == "POST" else request.GET
        # "all" from the members' page sends the ticked boxes too: they are then ignored.
        self.selected = data.get("scope") == "selected"
        self.customer_ids, self.refusal = self._chosen_ids(data.getlist("customer"))

    def _chosen_ids(self, values: list[str]) -> tuple[list[int] | None, str]:
        if not self.selected:
            return None, ""
        if not values:
            return [], "Tick at least one customer in the list of members first."
        if len(values) > MAX_SELECTED:
            return [], (
                f"At most {MAX_SELECTED:,} customers can be ticked at once: "
                "to act on more, act on all members."
            )
        if not all(value.isdigit() for value in values):
            return [], "The ticked customers could not be read: tick them again."
        return sorted({int(value) for value in values}), ""

    def get(self, request, *args, **kwargs):
        if self.refusal:
            messages.error(request, self.refusal)
            return redirect("segments:detail", slug=self.segment.slug)
        return super().get(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.update(segment=self.segment, customer_ids=self.customer_ids)
        if self.customer_ids is not None:
            kwargs.setdefault("initial", {})["customer"] = self.customer_ids
        return kwargs

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        allowed = bulk_kinds_for(self.request.user)
        form.fields["kind"].choices = [
            choice for choice in form.fields["kind"].choices if choice[0] in allowed
        ]
        return form

    def post(self, request, *args, **kwargs):
        if self.refusal:
            messages.error(request, self.refusal)
            return redirect("segments:detail", slug=self.segment.slug)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            action = bulk_action_start(
                segment=self.segment,
                kind=form.cleaned_data["kind"],
                user=self.request.user,
                tag=form.cleaned_data["tag"],
                target_segment=form.cleaned_data["target_segment"],
                customer_ids=self.customer_ids,
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
            return self.form_invalid(form)
        if action.finished:
            messages.success(self.request, bulk_action_result(action))
        return redirect("segments:bulk_action", slug=self.segment.slug, pk=action.pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        chosen = None
        if self.customer_ids is not None:
            chosen = self.segment.customers(self.request.user).filter(pk__in=self.customer_ids)
        context.update(
            {
                "segment": self.segment,
                "selected_count": None if chosen is None else chosen.count(),
                "inline_limit": settings.CRM_SEGMENT_BULK_INLINE_LIMIT,
            }
        )
        return context


def bulk_action_result(action: BulkAction) -> str:
    """What a finished action did, in one sentence."""
    changed = f"{action.changed_count:,} customer{'s' if action.changed_count != 1 else ''}"
    if action.status == BulkAction.Status.FAILED:
        return f"{action.describe()}: stopped by an error after {changed}. Run it again to finish."
    if action.kind == BulkAction.Kind.ADD_TAG:
        return f"Tag “{action.tag}” added to {changed}; the others had it already."
    if action.kind == BulkAction.Kind.REMOVE_TAG:
        return f"Tag “{action.tag}” taken off {changed}; the others did not have it."
    return (
        f"{changed} added to the segment “{action.target_segment}”; the others were in it already."
    )


class BulkActionDetailView(PermissionRequiredMixin, DetailView):
    """A bulk action's progress; htmx asks again every few seconds until it has finished."""

    permission_required = "segments.view_segment"
    template_name = "segments/bulk_action_detail.html"
    context_object_name = "action"

    def get_queryset(self):
        return BulkAction.objects.filter(segment__slug=self.kwargs["slug"]).select_related(
            "segment", "tag", "target_segment", "created_by"
        )

    def get_template_names(self):
        if self.request.htmx:
            return ["segments/partials/bulk_action_progress.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["result"] = bulk_action_result(self.object) if self.object.finished else ""
        context["may_run_again"] = self.object.status == BulkAction.Status.FAILED and (
            self.request.user.has_perm(BULK_PERMISSIONS[self.object.kind])
        )
        return context

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self.request.htmx and self.object.finished:
            trigger_client_event(response, "crm:announce", context["result"])
        return response


@login_required
@require_POST
def bulk_action_run_again(request, slug: str, pk: int):
    """Send a stopped action to the worker again: it carries on from its last whole batch."""
    action = get_object_or_404(BulkAction, segment__slug=slug, pk=pk)
    if not request.user.has_perms(["segments.view_segment", BULK_PERMISSIONS[action.kind]]):
        raise PermissionDenied
    if action.status == BulkAction.Status.FAILED:
        BulkAction.objects.filter(pk=action.pk, status=BulkAction.Status.FAILED).update(
            status=BulkAction.Status.QUEUED, error=""
        )
        bulk_action_run.delay_on_commit(action.pk)
        messages.info(request, "The action carries on from where it stopped.")
    return redirect(reverse("segments:bulk_action", args=[slug, pk]))
