"""Follow-ups due: open notes dated today or earlier, for staff to call the customer back."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.utils import timezone
from django.views.generic import ListView

from customers import selectors


class FollowUpListView(PermissionRequiredMixin, ListView):
    permission_required = "customers.view_note"
    template_name = "customers/follow_ups.html"
    context_object_name = "notes"
    paginate_by = 25

    def get_queryset(self):
        self.today = timezone.localdate()
        return selectors.follow_ups_due(today=self.today)

    def paginate_queryset(self, queryset, page_size):
        # Marking the last note of the last page done sends the user back to a page that no
        # longer exists; show the last one there is instead of a 404.
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        notes = list(context["notes"])
        for note in notes:
            note.overdue_days = (self.today - note.follow_up_on).days
        context.update(notes=notes, today=self.today)
        return context
