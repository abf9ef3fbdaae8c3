"""The nightly analytics' names, each spelled once.

- Churn models: ``AnalyticsRun.Model``, the choices of the run's model_name column. MODELS and
  DEFAULT_MODEL derive from it; FALLBACK_LABEL names what scores a run when no model can be
  trusted (the recency/frequency heuristic in run.py).
- RFM segments: ``Customer.RfmSegment``, the choices of the customer's rfm_segment column, listed in
  the segment map's order. rfm.SEGMENT_MAP says which (R, F) cells each segment covers.

The choices stay on the models because the columns need them; everything else (the run, the
command, the admin, the tasks, the pages) reads the names from here. A light module on purpose:
the web process imports it without numpy or scipy.
"""

from customers.models import AnalyticsRun, Customer

Model = AnalyticsRun.Model
MODELS: tuple[str, ...] = tuple(Model.values)
# The model a run uses unless told otherwise: the default of the run's model_name column.
DEFAULT_MODEL: str = Model(AnalyticsRun._meta.get_field("model_name").default).value
FALLBACK_LABEL = "Fallback heuristic"

Segment = Customer.RfmSegment
# A customer without a delivered order: no (R, F) cell, so no bar on the chart.
PROSPECT: str = Segment.PROSPECT.value
# The segments of the RFM map, in the map's order (first match wins).
SEGMENT_ORDER: tuple[str, ...] = tuple(
    segment.value for segment in Segment if segment != Segment.PROSPECT
)
