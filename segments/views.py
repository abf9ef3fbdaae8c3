"""The staff pages of segments: the list, a segment with its members, the members' CSV and a
new segment made from the customer list's filters."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import CreateView, ListView

from core.paginators import IdsFirstPaginator
from customers.filters import CustomerFilter
from customers.models import Customer, Tag
from customers.views.mixins import ForgivingPaginationMixin
from customers.views.sorting import CustomerTableMixin
from segments import services
from segments.exports import members_csv_response
from segments.forms import SegmentFromFiltersForm
from segments.from_filters import rules_from_list_query
from segments.models import Segment, SegmentMembership
from segments.rules import rules_describe

SEGMENTS_PER_PAGE = 25


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
            self.segment = get_object_or_404(
                with_manual_count(Segment.objects.all()),
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
        segment = services.segment_create(
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            rules=self.rules,
        )
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
