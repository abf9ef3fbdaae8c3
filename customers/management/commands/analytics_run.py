import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.analytics.backtest_report import backtest_sentence
from customers.analytics.ops import analytics_run_create
from customers.analytics.vocabulary import DEFAULT_MODEL, MODELS
from customers.models import AnalyticsRun


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _seconds(value) -> str:
    return f"{value:8.2f}" if isinstance(value, int | float) else str(value)


def _flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Fitted parameters may be grouped by model ({"churn": {...}, "spend": {...}})."""
    pairs = []
    for key, value in values.items():
        if isinstance(value, dict):
            pairs.extend(_flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def _as_of(value: str) -> datetime.date:
    try:
        as_of = datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of {value!r} is not a date; use YYYY-MM-DD.") from None
    if as_of > timezone.localdate():
        raise CommandError(f"--as-of {as_of.isoformat()} is in the future.")
    return as_of


class Command(BaseCommand):
    help = (
        "Score every customer now (RFM, churn risk, predicted value), in this process, as the "
        "nightly job does, and print what the run found."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            dest="as_of",
            metavar="YYYY-MM-DD",
            help="Score as of this date (default: today).",
        )
        parser.add_argument(
            "--model",
            default=DEFAULT_MODEL,
            help=f"Churn model: {' or '.join(MODELS)} (default: {DEFAULT_MODEL}).",
        )
        parser.add_argument(
            "--backtest-days",
            dest="backtest_days",
            type=int,
            metavar="H",
            help="Backtest the model on the H days before the as-of date: fit it on the history "
            "up to then, compare its predictions with what happened (0: no backtest; default: "
            "CRM_ANALYTICS_BACKTEST_DAYS).",
        )

    def handle(self, *args, as_of, model, backtest_days=None, **options):
        from customers.analytics.run import (
            AnalyticsAlreadyRunning,
            analytics_run,
            analytics_upkeep,
        )

        if model not in MODELS:
            raise CommandError(f"Unknown --model {model!r}; choose one of {', '.join(MODELS)}.")
        if backtest_days is not None and backtest_days < 0:
            raise CommandError(f"--backtest-days must be 0 or more, not {backtest_days}.")
        as_of_date = _as_of(as_of) if as_of else timezone.localdate()
        run = analytics_run_create(as_of=as_of_date, model=model)
        try:
            run = analytics_run(as_of=as_of_date, model=model, run=run, backtest_days=backtest_days)
        except AnalyticsAlreadyRunning as error:
            raise CommandError(f"Another analytics run is in progress: {error}") from None
        except Exception as error:
            # The run has already recorded the failure on its row; say where to look.
            raise CommandError(f"Analytics run {run.pk} failed: {error}") from error
        analytics_upkeep(run)  # the nightly chain's second link, here in the same process
        self._summary(run)

    def _summary(self, run: AnalyticsRun) -> None:
        write = self.stdout.write
        write(
            self.style.SUCCESS(
                f"Analytics run {run.pk} as of {run.as_of.isoformat()}: "
                f"{run.customers_scored} customers scored "
                f"({run.customers_with_orders} with orders)."
            )
        )
        write(f"Model: {run.get_model_name_display()} ({run.model_name})")
        parameters = _flatten(run.parameters or {})
        write(
            "Fitted parameters: "
            + (", ".join(f"{name}={_number(value)}" for name, value in parameters) or "none")
        )
        write(
            "Log-likelihood: "
            + (_number(run.log_likelihood) if run.log_likelihood is not None else "n/a")
        )
        if run.fallback_used:
            write(self.style.WARNING(f"Fallback used: yes ({run.fallback_reason or 'no reason'})"))
        else:
            write("Fallback used: no")
        write(f"Drift fixed: {run.drift_count} customer(s)")
        if run.backtest:
            write(f"Backtest: {backtest_sentence(run.backtest)}")
            if "mean_absolute_error" in run.backtest:
                write(
                    f"  calibrated to {run.backtest['calibration_end']} on "
                    f"{run.backtest['customers']:,} customers; predicted "
                    f"{run.backtest['predicted_purchases']:,.2f}, happened "
                    f"{run.backtest['actual_purchases']:,}; mean absolute error "
                    f"{run.backtest['mean_absolute_error']:.3f} per customer"
                )
        write("Seconds per step:")
        for step, seconds in run.steps_in_order():
            write(f"  {step:<24} {_seconds(seconds)}")
        if run.duration_seconds is not None:
            write(f"Total: {run.duration_seconds:.2f} s")
