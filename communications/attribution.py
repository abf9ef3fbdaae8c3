"""What a campaign earned: delivered orders credited to the campaign whose message came last
before them, and the comparison of the recipients with the control group.

The rule (docs/communications.md "What a campaign earned"): an order is attributed to a campaign
when it was delivered within ``CRM_ATTRIBUTION_DAYS`` after the customer's click on the
campaign's message, or, without a click, after the message was sent; a held-out customer (the
control group) is measured from the time the send started for them (the message's queued_at,
else the campaign's started_at).
Of several campaigns, the latest of those times before the delivery wins. One definition of that
rule, ``_attributable``, serves the delivery of one order and the catch-up of the bulk paths.

A return or a cancellation does not touch the attribution (the return path has no query to
spare): results count only attributions whose order still stands delivered.
"""

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from communications.models import Attribution, Campaign, Communication
from customers.models import Order

Status = Communication.Status

# The statuses of a message that reached (or may have reached) its customer: the recipients.
RECIPIENT_STATUSES = tuple(
    status.value
    for status in (Status.SENT, Status.DELIVERED, Status.OPENED, Status.CLICKED, Status.REPLIED)
)
# The messages an order can be credited to: the recipients' and the control group's.
CREDITED_STATUSES = (*RECIPIENT_STATUSES, Status.HELD_OUT.value)
# Below these, a comparison with the control group is too small to tell anything.
MIN_GROUP_SIZE = 30
MIN_EXPECTED_CONVERSIONS = 5
CONFIDENCE = 0.95
# Customer ids per catch-up statement, under every database's limit on parameters.
CATCH_UP_BATCH = 10_000
MONEY = DecimalField(max_digits=14, decimal_places=2)
SQUARES = DecimalField(max_digits=28, decimal_places=4)
CENT = Decimal("0.01")


def attribution_window() -> timedelta:
    """How long after a click (or a send) a delivered order is credited to the campaign."""
    return timedelta(days=settings.CRM_ATTRIBUTION_DAYS)


def _attributable(orders_where: str, params: Iterable) -> int:
    """Credit each delivered order matching ``orders_where`` (SQL on the order ``o``) to the
    campaign message whose time (``_touch``) comes last at or before the delivery, no more than
    the window before it, in one INSERT … SELECT … ON CONFLICT DO NOTHING: the order's one
    attribution is the key, so a second delivery, or two at once, write nothing more. Returns
    the rows written.

    Written in SQL because the choice of the last message orders by a time that depends on the
    order (a click counts only before the delivery), and SQLite refuses an outer column in a
    subquery's ORDER BY; the per-message times are computed in a derived table instead.
    """
    quote = connection.ops.quote_name
    attribution = quote(Attribution._meta.db_table)
    message = quote(Communication._meta.db_table)
    order = quote(Order._meta.db_table)
    campaign = quote(Campaign._meta.db_table)
    # The time plus the window, as Django writes date arithmetic on each database.
    window_end = connection.ops.combine_duration_expression("+", ["t.touch", "%s"])
    window = DurationField().get_db_prep_value(attribution_window(), connection)
    statuses = ", ".join(["%s"] * len(CREDITED_STATUSES))
    sql = f"""
        INSERT INTO {attribution} (campaign_id, communication_id, order_id, customer_id,
                                   held_out, by_click, revenue, delivered_at)
        SELECT m.campaign_id, m.id, o.id, o.customer_id, m.status = %s,
               (m.status <> %s AND m.clicked_at IS NOT NULL AND m.clicked_at <= o.delivered_at),
               o.total, o.delivered_at
        FROM {order} o
        INNER JOIN {message} m ON m.id = (
            SELECT t.id FROM (
                SELECT c.id,
                       CASE WHEN c.status = %s THEN COALESCE(c.queued_at, k.started_at)
                            WHEN c.clicked_at <= o.delivered_at THEN c.clicked_at
                            ELSE c.sent_at END AS touch
                FROM {message} c INNER JOIN {campaign} k ON k.id = c.campaign_id
                WHERE c.customer_id = o.customer_id AND c.status IN ({statuses})
            ) t
            WHERE t.touch <= o.delivered_at AND ({window_end}) >= o.delivered_at
            ORDER BY t.touch DESC, t.id DESC
            LIMIT 1
        )
        WHERE o.status = %s AND o.delivered_at IS NOT NULL AND {orders_where}
        ON CONFLICT DO NOTHING
    """
    held_out = Status.HELD_OUT.value
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            (
                held_out,
                held_out,
                held_out,
                *CREDITED_STATUSES,
                window,
                Order.Status.DELIVERED.value,
                *params,
            ),
        )
        return max(cursor.rowcount, 0)


def order_attribute(*, order: Order) -> bool:
    """Credit a delivered order to the campaign whose message came last before its delivery
    within the window, if any: one statement, whatever the customer's history. An order that
    already has its attribution keeps it. Returns whether a row was written."""
    return _attributable("o.id = %s", [order.pk]) > 0


def orders_attribute(*, customer_ids: Iterable[int] | None = None) -> int:
    """The catch-up of the bulk paths (orders written without save()): credit every delivered
    order of these customers (None: all) that has no attribution yet, set-based, in batches of
    customers. Safe to run again: what is credited stays. Returns the rows written."""
    # Only orders without an attribution, of customers a campaign wrote to.
    pending = (
        f"NOT EXISTS (SELECT 1 FROM {connection.ops.quote_name(Attribution._meta.db_table)} a "
        "WHERE a.order_id = o.id) AND EXISTS (SELECT 1 FROM "
        f"{connection.ops.quote_name(Communication._meta.db_table)} c "
        "WHERE c.customer_id = o.customer_id AND c.campaign_id IS NOT NULL)"
    )
    if customer_ids is None:
        with transaction.atomic():
            return _attributable(pending, [])
    ids = sorted(set(customer_ids))
    written = 0
    for start in range(0, len(ids), CATCH_UP_BATCH):
        batch = ids[start : start + CATCH_UP_BATCH]
        placeholders = ", ".join(["%s"] * len(batch))
        with transaction.atomic():
            written += _attributable(f"o.customer_id IN ({placeholders}) AND {pending}", batch)
    return written


# --- Results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One side of the comparison: its customers, those with an attributed order in the window,
    and what those orders came to."""

    size: int
    converted: int
    revenue: Decimal
    # The sum of the squares of each customer's revenue in the window, for the variance.
    revenue_squares: Decimal

    @property
    def conversion_rate(self) -> float | None:
        return self.converted / self.size if self.size else None

    @property
    def conversion_text(self) -> str:
        return "—" if self.conversion_rate is None else f"{100 * self.conversion_rate:.1f}%"

    @property
    def revenue_per_customer(self) -> Decimal | None:
        if not self.size:
            return None
        return (self.revenue / self.size).quantize(CENT)

    @property
    def revenue_variance(self) -> float | None:
        """The sample variance of the revenue per customer (non-buyers count as 0)."""
        if self.size < 2:
            return None
        mean_square = self.revenue * self.revenue / self.size
        return float((self.revenue_squares - mean_square) / (self.size - 1))


@dataclass(frozen=True)
class Difference:
    """Recipients minus control, and its 95 % interval (None when the groups are too small),
    in ``unit`` (percentage points, or money per customer) shown to ``places`` decimals."""

    value: float
    low: float | None = None
    high: float | None = None
    unit: str = "points"
    places: int = 1

    @property
    def has_interval(self) -> bool:
        return self.low is not None

    def _signed(self, number: float) -> str:
        text = f"{abs(number):,.{self.places}f}"
        if text.strip("0.,") == "":
            return text  # no sign on a zero
        return ("+" if number > 0 else "\N{MINUS SIGN}") + text

    @property
    def value_text(self) -> str:
        """The difference in words: "+10.0 points"."""
        return f"{self._signed(self.value)} {self.unit}"

    @property
    def interval_text(self) -> str:
        """The interval in words: "between +1.2 and +4.8 points"."""
        if self.low is None:
            return ""
        return f"between {self._signed(self.low)} and {self._signed(self.high)} {self.unit}"

    @property
    def verdict(self) -> str:
        """What the interval says, in words."""
        if self.low is None:
            return ""
        if self.low > 0:
            return "higher for the recipients, beyond what chance explains"
        if self.high < 0:
            return "lower for the recipients, beyond what chance explains"
        return "the interval includes zero: the campaign may have made no difference"


def campaign_results(campaign: Campaign) -> dict:
    """What the campaign earned, for its page (templates/communications/partials/
    campaign_results.html), in two queries whatever the number of recipients:

    - ``orders``, ``revenue``: the recipients' attributed orders still delivered, and their total;
    - ``comparison`` (None without a control group): ``recipients`` and ``control`` (Group), the
      ``conversion`` difference in percentage points and the ``revenue_per_customer``
      difference (Difference), both again as ``differences`` ((label, Difference) pairs),
      ``too_small`` (the reason, or "" when the intervals mean
      something), each counted over the same window after each customer's send time;
    - ``window_days``, ``window_open_until`` (the last day an order can still be credited, while
      in the future), ``currency``.
    """
    window = attribution_window()
    sizes = dict(
        Communication.objects.filter(campaign=campaign)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    control_size = sizes.get(Status.HELD_OUT, 0)
    recipient_size = sum(sizes.get(status, 0) for status in RECIPIENT_STATUSES)
    figures = _attributed_figures(campaign, window)

    results = {
        "campaign": campaign,
        "currency": settings.CRM_CURRENCY,
        "window_days": window.days,
        "orders": figures["orders"],
        "revenue": figures["revenue"],
        "window_open_until": _window_open_until(campaign, window),
        "comparison": None,
    }
    if control_size or campaign.holdout_percent:
        recipients = Group(
            size=recipient_size,
            converted=figures["recipients_converted"],
            revenue=figures["recipients_revenue"],
            revenue_squares=figures["recipients_squares"],
        )
        control = Group(
            size=control_size,
            converted=figures["control_converted"],
            revenue=figures["control_revenue"],
            revenue_squares=figures["control_squares"],
        )
        results["comparison"] = _with_differences(_compare(recipients, control))
    return results


def _attributed_figures(campaign: Campaign, window: timedelta) -> dict:
    """One query: per customer, their attributed orders still delivered (all of them, and those
    within the window after their send time), then summed per group."""
    send_time = Case(
        When(
            held_out=True,
            then=Coalesce("communication__queued_at", "campaign__started_at"),
        ),
        default=F("communication__sent_at"),
        output_field=DateTimeField(),
    )
    per_customer = (
        Attribution.objects.filter(campaign=campaign, order__status=Order.Status.DELIVERED)
        .annotate(
            window_end=ExpressionWrapper(send_time + Value(window), output_field=DateTimeField())
        )
        .order_by()
        .values("communication_id", "held_out")
        .annotate(
            order_count=Count("pk"),
            revenue_all=Sum("revenue"),
            in_window=Count("pk", filter=Q(delivered_at__lte=F("window_end"))),
            revenue_in_window=Sum(
                "revenue", filter=Q(delivered_at__lte=F("window_end")), default=Decimal(0)
            ),
        )
    )
    square = ExpressionWrapper(
        F("revenue_in_window") * F("revenue_in_window"), output_field=SQUARES
    )
    converted = Case(When(in_window__gt=0, then=Value(1)), default=Value(0))

    def per_group(held_out: bool, expression, output_field=MONEY):
        return Sum(expression, filter=Q(held_out=held_out), default=0, output_field=output_field)

    figures = per_customer.aggregate(
        orders=per_group(False, F("order_count"), IntegerField()),
        revenue=per_group(False, F("revenue_all")),
        recipients_converted=per_group(False, converted, IntegerField()),
        recipients_revenue=per_group(False, F("revenue_in_window")),
        recipients_squares=per_group(False, square, SQUARES),
        control_converted=per_group(True, converted, IntegerField()),
        control_revenue=per_group(True, F("revenue_in_window")),
        control_squares=per_group(True, square, SQUARES),
    )
    for name, value in figures.items():
        if name.endswith("revenue"):
            figures[name] = Decimal(value or 0).quantize(CENT)
        elif name.endswith("squares"):
            figures[name] = Decimal(value or 0).quantize(CENT * CENT)
        else:
            figures[name] = int(value or 0)
    return figures


def _window_open_until(campaign: Campaign, window: timedelta) -> datetime | None:
    """While orders can still be credited to the campaign, the time the last window closes."""
    if campaign.status == Campaign.Status.SENDING:
        return timezone.now() + window
    last_send = campaign.finished_at or campaign.started_at
    if last_send and last_send + window > timezone.now():
        return last_send + window
    return None


def _compare(recipients: Group, control: Group) -> dict:
    """The differences, recipients minus control, with 95 % intervals when the groups are big
    enough: a difference of two proportions (unpooled standard error), and a difference of two
    means with Welch's standard error and degrees of freedom."""
    comparison = {
        "recipients": recipients,
        "control": control,
        "too_small": "",
        "conversion": None,
        "revenue_per_customer": None,
    }
    if not control.size:
        comparison["too_small"] = "The control group is drawn when the send starts."
        return comparison
    if not recipients.size:
        comparison["too_small"] = "No message has been sent yet."
        return comparison
    comparison["too_small"] = _too_small(recipients, control)
    conversion = 100 * (recipients.conversion_rate - control.conversion_rate)
    # From the unrounded means.
    revenue = float(recipients.revenue / recipients.size - control.revenue / control.size)
    money = {"unit": f"{settings.CRM_CURRENCY} per customer", "places": 2}
    if comparison["too_small"]:
        comparison["conversion"] = Difference(value=conversion)
        comparison["revenue_per_customer"] = Difference(value=revenue, **money)
        return comparison
    standard_error = 100 * math.sqrt(
        recipients.conversion_rate * (1 - recipients.conversion_rate) / recipients.size
        + control.conversion_rate * (1 - control.conversion_rate) / control.size
    )
    margin = statistics.NormalDist().inv_cdf(0.5 + CONFIDENCE / 2) * standard_error
    comparison["conversion"] = Difference(
        value=conversion, low=conversion - margin, high=conversion + margin
    )
    low, high = _welch_interval(recipients, control, revenue)
    comparison["revenue_per_customer"] = Difference(value=revenue, low=low, high=high, **money)
    return comparison


def _with_differences(comparison: dict) -> dict:
    """The differences as (label, Difference) pairs, in the order the page shows them."""
    comparison["differences"] = [
        (label, comparison[key])
        for label, key in (
            ("Conversion rate", "conversion"),
            ("Revenue per customer", "revenue_per_customer"),
        )
        if comparison[key] is not None
    ]
    return comparison


def _too_small(recipients: Group, control: Group) -> str:
    """Why the groups are too small to tell anything, or ""."""
    smallest = min(recipients.size, control.size)
    if smallest < MIN_GROUP_SIZE:
        return (
            f"Too small to tell: a group has {smallest} customer{'s' if smallest != 1 else ''}; "
            f"an interval means something from {MIN_GROUP_SIZE} in each."
        )
    total = recipients.size + control.size
    pooled = (recipients.converted + control.converted) / total
    expected = min(
        min(group.size * pooled, group.size * (1 - pooled)) for group in (recipients, control)
    )
    if expected < MIN_EXPECTED_CONVERSIONS:
        return (
            f"Too small to tell: at the overall rate, a group would expect only {expected:.1f} "
            f"customers who bought (or who did not); an interval means something from "
            f"{MIN_EXPECTED_CONVERSIONS}."
        )
    return ""


def _welch_interval(recipients: Group, control: Group, difference: float) -> tuple[float, float]:
    """The interval of a difference of two means: Welch's standard error, and a t quantile with
    Welch-Satterthwaite degrees of freedom (close to the normal one at these group sizes)."""
    var_r = recipients.revenue_variance / recipients.size
    var_c = control.revenue_variance / control.size
    variance = var_r + var_c
    if variance <= 0:  # every customer of both groups spent the same: nothing varies
        return difference, difference
    freedom = variance**2 / (var_r**2 / (recipients.size - 1) + var_c**2 / (control.size - 1))
    from scipy import stats  # imported here: it is slow to load, and only results need it

    margin = float(stats.t.ppf(0.5 + CONFIDENCE / 2, freedom)) * math.sqrt(variance)
    return difference - margin, difference + margin
