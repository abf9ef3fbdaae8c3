"""How far to trust the scores: the last run's backtest, for staff
(customers.analytics.backtest)."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import TemplateView

from customers.analytics.backtest_report import backtest_context
from customers.analytics.panels import latest_run_for


class BacktestView(PermissionRequiredMixin, TemplateView):
    permission_required = "customers.view_customer"
    template_name = "customers/backtest.html"

    def get_context_data(self, **kwargs):
        run = latest_run_for(self.request)
        return {
            **super().get_context_data(**kwargs),
            "run": run,
            **backtest_context(run.backtest if run else {}),
        }
