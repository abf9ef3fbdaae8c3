"""RFM scores (1-5 for recency, frequency and monetary value) and the segment map.

Two ways to score, chosen with the CRM_RFM_METHOD setting:
- "quintiles" (default): cut points at the 20th, 40th, 60th and 80th percentiles of the
  customers being scored; a score counts the cut points a value passes, so equal values always
  share a score (unlike NTILE, which splits ties to fill the buckets evenly);
- "fixed": the thresholds in CRM_RFM_THRESHOLDS (recency in days, frequency in orders, monetary
  in the shop's currency), listed from the score-5 boundary down to the score-2 boundary.

The segment names are defined in vocabulary.py; this module says which (R, F) cells each covers.
"""

import numpy as np
from django.conf import settings

from customers.analytics.vocabulary import Segment

QUINTILES = (0.2, 0.4, 0.6, 0.8)

# First match wins: (segment, R scores, F scores), from DESIGN.md.
SEGMENT_MAP: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    (Segment.CHAMPIONS.value, (4, 5), (4, 5)),
    (Segment.LOYAL.value, (3, 4), (4, 5)),
    (Segment.POTENTIAL_LOYALISTS.value, (4, 5), (2, 3)),
    (Segment.NEW.value, (5, 5), (1, 1)),
    (Segment.PROMISING.value, (4, 4), (1, 1)),
    (Segment.NEED_ATTENTION.value, (3, 3), (3, 3)),
    (Segment.ABOUT_TO_SLEEP.value, (3, 3), (1, 2)),
    (Segment.AT_RISK.value, (1, 2), (3, 4)),
    (Segment.CANT_LOSE.value, (1, 2), (5, 5)),
    (Segment.HIBERNATING.value, (2, 2), (1, 2)),
    (Segment.LOST.value, (1, 1), (1, 2)),
)


def _segment_table() -> np.ndarray:
    table = np.full((6, 6), "", dtype=object)
    for r in range(1, 6):
        for f in range(1, 6):
            for name, (r_low, r_high), (f_low, f_high) in SEGMENT_MAP:
                if r_low <= r <= r_high and f_low <= f <= f_high:
                    table[r, f] = name
                    break
    return table


SEGMENT_TABLE = _segment_table()


def segments(recency_scores, frequency_scores) -> np.ndarray:
    """The segment of each (R, F) pair, by the map (every pair of 1-5 scores has one)."""
    return SEGMENT_TABLE[np.asarray(recency_scores, int), np.asarray(frequency_scores, int)]


def quintile_cuts(values) -> np.ndarray:
    return np.quantile(np.asarray(values, dtype=float), QUINTILES)


def score_higher_better(values, cuts) -> np.ndarray:
    """1 + the number of cut points strictly below the value: more is better (F, M)."""
    return 1 + np.searchsorted(np.asarray(cuts, float), np.asarray(values, float), side="left")


def score_lower_better(values, cuts) -> np.ndarray:
    """1 + the number of cut points strictly above the value: less is better (days, R)."""
    cuts = np.asarray(cuts, float)
    return 1 + len(cuts) - np.searchsorted(cuts, np.asarray(values, float), side="right")


def _fixed(values, thresholds, *, lower_is_better: bool) -> np.ndarray:
    """Score by fixed thresholds listed from the 5 boundary down to the 2 boundary."""
    values = np.asarray(values, float)
    scores = np.ones(len(values), dtype=int)
    for score, threshold in zip((5, 4, 3, 2), thresholds, strict=True):
        hit = (values <= threshold) if lower_is_better else (values >= threshold)
        scores = np.where((scores == 1) & hit, score, scores)
    return scores


def rfm_scores(recency_days, order_counts, spend, *, method: str | None = None):
    """R, F and M scores (1-5 arrays) for customers with at least one purchase."""
    method = method or settings.CRM_RFM_METHOD
    if method == "fixed":
        thresholds = settings.CRM_RFM_THRESHOLDS
        return (
            _fixed(recency_days, thresholds["recency"], lower_is_better=True),
            _fixed(order_counts, thresholds["frequency"], lower_is_better=False),
            _fixed(spend, thresholds["monetary"], lower_is_better=False),
        )
    if method != "quintiles":
        raise ValueError(f"CRM_RFM_METHOD must be 'quintiles' or 'fixed', not {method!r}.")
    return (
        score_lower_better(recency_days, quintile_cuts(recency_days)),
        score_higher_better(order_counts, quintile_cuts(order_counts)),
        score_higher_better(spend, quintile_cuts(spend)),
    )
