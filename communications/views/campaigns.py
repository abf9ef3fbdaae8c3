"""Staff pages of campaigns: the list, a new or changed draft, its preview (who receives it,
who is excluded and why, then send now, schedule or cancel), and the campaign's page (its
counters with rates, what it earned, and its recipients with their status)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import path
from django.utils.functional import cached_property
from django.views.decorators.http import require_POST
from django.views.generic import DetailView, FormView, ListView

from communications import campaigns as services
from communications.forms_campaigns import CampaignForm, ScheduleForm
from communications.models import Campaign, Communication
from core.forms import error_text, form_add_service_error
from core.paginators import EstimatedCountPaginator

CAMPAIGNS_PER_PAGE = 25
RECIPIENTS_PER_PAGE = 50
MOMENTS = ("clicked", "opened", "delivered", "sent", "failed", "bounced", "skipped", "queued")
RESULTS_TEMPLATE = "communications/partials/campaign_results.html"

Status = Campaign.Status


def _campaigns():
    return Campaign.objects.select_related("segment", "template", "created_by")


class CampaignListView(PermissionRequiredMixin, ListView):
    permission_required = "communications.view_campaign"
    template_name = "communications/campaign_list.html"
    context_object_name = "campaigns"
    paginate_by = CAMPAIGNS_PER_PAGE

    def get_queryset(self):
        return Campaign.objects.select_related("segment").order_by("-created_at", "-id")


class CampaignFormView(PermissionRequiredMixin, FormView):
    """A new draft, or a draft changed; saved through the services, whose refusals go on the
    fields they name."""

    template_name = "communications/campaign_form.html"
    form_class = CampaignForm

    def get_permission_required(self):
        if "pk" in self.kwargs:
            return ("communications.change_campaign",)
        return ("communications.add_campaign",)

    @cached_property
    def campaign(self) -> Campaign | None:
        if "pk" not in self.kwargs:
            return None
        return get_object_or_404(_campaigns(), pk=self.kwargs["pk"])

    def dispatch(self, request, *args, **kwargs):
        if not self.has_permission():
            return self.handle_no_permission()
        if self.campaign is not None and self.campaign.status != Status.DRAFT:
            messages.error(request, "Only a draft can be changed.")
            return redirect("communications:campaign", pk=self.campaign.pk)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.campaign
        return kwargs

    def form_valid(self, form):
        data = {name: form.cleaned_data[name] for name in services.DRAFT_FIELDS}
        try:
            if self.campaign is None:
                campaign = services.campaign_create(**data, created_by=self.request.user)
            else:
                campaign = services.campaign_update(campaign=self.campaign, **data)
        except ValidationError as error:
            form_add_service_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, f"Draft “{campaign.name}” saved.")
        return redirect("communications:campaign_preview", pk=campaign.pk)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "campaign": self.campaign}


class CampaignPreviewView(PermissionRequiredMixin, DetailView):
    """Who the campaign reaches if it starts now, counted from its segment, then the actions
    its status allows."""

    permission_required = "communications.view_campaign"
    template_name = "communications/campaign_preview.html"
    context_object_name = "campaign"

    def get_queryset(self):
        return _campaigns()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(_preview_context(self.request, self.object, ScheduleForm()))
        return context


def _preview_context(request, campaign: Campaign, schedule_form: ScheduleForm) -> dict:
    may_change = request.user.has_perm("communications.change_campaign")
    return {
        "campaign": campaign,
        "preview": services.campaign_preview(campaign=campaign),
        "may_change": may_change,
        "schedule_form": schedule_form,
        "can_send": may_change and campaign.status in (Status.DRAFT, Status.SCHEDULED),
        "can_cancel": may_change and campaign.status in (Status.SCHEDULED, Status.SENDING),
    }


def _campaign_action(request, pk: int, act) -> Campaign:
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        act(campaign)
    except ValidationError as error:
        messages.error(request, error_text(error))
    return campaign


@login_required
@permission_required("communications.change_campaign", raise_exception=True)
@require_POST
def campaign_send_now(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        services.campaign_send_now(campaign=campaign)
    except ValidationError as error:
        messages.error(request, error_text(error))
        return redirect("communications:campaign_preview", pk=pk)
    messages.success(request, f"“{campaign.name}” is being sent.")
    return redirect("communications:campaign", pk=pk)


@login_required
@permission_required("communications.change_campaign", raise_exception=True)
def campaign_schedule(request, pk: int):
    campaign = get_object_or_404(_campaigns(), pk=pk)
    if request.method != "POST":
        return redirect("communications:campaign_preview", pk=pk)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            services.campaign_schedule(campaign=campaign, at=form.cleaned_data["scheduled_at"])
        except ValidationError as error:
            form_add_service_error(form, error)
    if form.errors:
        return render(
            request,
            CampaignPreviewView.template_name,
            _preview_context(request, campaign, form),
        )
    messages.success(request, f"“{campaign.name}” is scheduled.")
    return redirect("communications:campaign_preview", pk=pk)


@login_required
@permission_required("communications.change_campaign", raise_exception=True)
@require_POST
def campaign_unschedule(request, pk: int):
    campaign = _campaign_action(
        request, pk, lambda campaign: services.campaign_unschedule(campaign=campaign)
    )
    if campaign.status == Status.DRAFT:
        messages.success(request, f"“{campaign.name}” is a draft again.")
    return redirect("communications:campaign_preview", pk=pk)


@login_required
@permission_required("communications.change_campaign", raise_exception=True)
@require_POST
def campaign_cancel(request, pk: int):
    campaign = _campaign_action(
        request, pk, lambda campaign: services.campaign_cancel(campaign=campaign)
    )
    if campaign.status == Status.CANCELLED:
        messages.success(request, f"“{campaign.name}” is cancelled.")
    return redirect("communications:campaign", pk=pk)


class KnownCountPaginator(Paginator):
    """Pages of a list whose length is already known (the campaign's recipients counter)."""

    def __init__(self, *args, known_count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_count = known_count

    @cached_property
    def count(self) -> int:
        return self.known_count


class CampaignDetailView(PermissionRequiredMixin, ListView):
    """The campaign's counters with their rates (one row, kept by the send and the tracking),
    what it earned, then its recipients with their status, filtered by status and paginated
    (the whole list's length is the recipients counter; a status is counted up to the cap)."""

    permission_required = "communications.view_campaign"
    template_name = "communications/campaign_detail.html"
    context_object_name = "recipients"
    paginate_by = RECIPIENTS_PER_PAGE

    @cached_property
    def campaign(self) -> Campaign:
        return get_object_or_404(_campaigns(), pk=self.kwargs["pk"])

    @cached_property
    def status_filter(self) -> str:
        status = self.request.GET.get("status", "")
        return status if status in Communication.Status.values else ""

    def get_queryset(self):
        recipients = services.campaign_recipients(self.campaign, self.request.user)
        if self.status_filter:
            recipients = recipients.filter(status=self.status_filter)
        # The time of the step each message reached last.
        moment = Coalesce(*(f"{step}_at" for step in MOMENTS), "occurred_at")
        return (
            recipients.only(
                "customer__first_name",
                "customer__last_name",
                "status",
                "skip_reason",
                "recipient",
                "error",
                "occurred_at",
                *(f"{step}_at" for step in MOMENTS),
            )
            .annotate(moment=moment)
            .order_by("customer_id")
        )

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kw):
        if self.status_filter:
            return EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)
        return KnownCountPaginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            known_count=self.campaign.recipients_count,
        )

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        campaign = self.campaign
        user = self.request.user
        may_change = user.has_perm("communications.change_campaign")
        context.update(
            {
                "campaign": campaign,
                "figures": services.campaign_figures(campaign),
                "statuses": Communication.Status.choices,
                "status_filter": self.status_filter,
                "may_change": may_change,
                "can_cancel": may_change and campaign.status in (Status.SCHEDULED, Status.SENDING),
                "shows_results": _has_results_template()
                and campaign.status not in (Status.DRAFT, Status.SCHEDULED),
            }
        )
        if context["shows_results"]:
            from communications.attribution import campaign_results

            context["results"] = campaign_results(campaign)
        return context


def _has_results_template() -> bool:
    try:
        get_template(RESULTS_TEMPLATE)
    except TemplateDoesNotExist:
        return False
    return True


urlpatterns = [
    path("campaigns/", CampaignListView.as_view(), name="campaigns"),
    path("campaigns/new/", CampaignFormView.as_view(), name="campaign_add"),
    path("campaigns/<int:pk>/", CampaignDetailView.as_view(), name="campaign"),
    path("campaigns/<int:pk>/edit/", CampaignFormView.as_view(), name="campaign_edit"),
    path("campaigns/<int:pk>/preview/", CampaignPreviewView.as_view(), name="campaign_preview"),
    path("campaigns/<int:pk>/send/", campaign_send_now, name="campaign_send"),
    path("campaigns/<int:pk>/schedule/", campaign_schedule, name="campaign_schedule"),
    path("campaigns/<int:pk>/unschedule/", campaign_unschedule, name="campaign_unschedule"),
    path("campaigns/<int:pk>/cancel/", campaign_cancel, name="campaign_cancel"),
]
