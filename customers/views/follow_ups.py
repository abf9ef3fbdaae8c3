"""Follow-ups due: open notes dated today or earlier, for staff to call the customer back."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.utils import timezone
from django.views.generic import ListView

from core.paginators import EstimatedCountPaginator
from customers import selectors
from customers.views.mixins import ForgivingPaginationMixin


class FollowUpListView(PermissionRequiredMixin, ForgivingPaginationMixin, ListView):
    permission_required = "customers.view_note"
    template_name = "customers/follow_ups.html"
    context_object_name = "notes"
    paginate_by = 25
    paginator_class = EstimatedCountPaginator

    def get_queryset(self):
        self.today = timezone.localdate()
        return selectors.follow_ups_due(self.request.user, today=self.today)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        notes = list(context["notes"])
        for note in notes:
            note.overdue_days = (self.today - note.follow_up_on).days
        context.update(notes=notes, today=self.today)
        return context
