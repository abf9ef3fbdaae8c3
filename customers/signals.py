"""Signals other apps listen to; customers itself imports none of them.

The order signals are sent inside the transaction that changed the order, with ``order`` as
keyword argument, so a receiver that writes (loyalty's points) commits or rolls back together
with the stats. ``analytics_run_finished`` is sent after a run and its upkeep have committed.
"""

from django.dispatch import Signal

# An order entered delivered and was added to its customer's stats (once per delivery).
order_delivered = Signal()

# A delivered order left delivered (returned, refunded, cancelled) and its stats were taken back.
order_delivery_reverted = Signal()

# Orders were written in bulk (skipping save()) for these customers, and their stats recomputed;
# ``customer_ids`` is a list, or None for all. Loyalty listens to award what they should earn.
orders_bulk_changed = Signal()

# The nightly analytics chain finished a successful run and its upkeep (scores, the searchable
# copy, the sales rollup are all in); ``run`` is the AnalyticsRun. Segments count themselves again.
analytics_run_finished = Signal()
