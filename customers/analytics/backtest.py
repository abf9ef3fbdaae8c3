"""How far to trust the scores: each night's run fits its model again as it would have been fitted
``holdout_days`` ago, predicts the days since, and compares with what happened (docs/analytics.md,
"The backtest").

- The calibration end is ``holdout_days`` before the run's as-of date. The cohort is the
  customers whose first purchase falls on or before it; each is summarised as the model sees
  them at that date (x repeat purchase days, t_x and T in days), from the same pass over the
  orders as the run (``run.orders_summarise`` adds the columns).
- The model is fitted on them (on a sample when there are many, as the run does), then gives each
  their expected purchases in the holdout and their probability of being alive at its start.
- What happened is counted the way the model counts: repeat purchase days in the holdout.

The figures recorded (``AnalyticsRun.backtest``) are the totals predicted and bought, the mean
absolute error per customer, how well churn risk ranks those who did not buy above those who did
(``auc``), and the cohort in ten groups by prediction, each with its predicted and actual mean.
"""

import time
from datetime import date, timedelta

import numpy as np
from scipy import stats

from customers.analytics import churn

GROUPS = 10


def auc(scores, positives) -> float | None:
    """The probability that a positive's score is above a negative's (ties count a half): the
    area under the ROC curve, from the ranks (Mann-Whitney U). None without both kinds."""
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    n_positive = int(positives.sum())
    n_negative = len(positives) - n_positive
    if not n_positive or not n_negative:
        return None
    ranks = stats.rankdata(scores)  # ties share their average rank
    u = ranks[positives].sum() - n_positive * (n_positive + 1) / 2
    return float(u / (n_positive * n_negative))


def calibration_groups(predicted, actual, groups: int = GROUPS) -> list[dict]:
    """The customers in ``groups`` groups of (nearly) equal size by predicted purchases, lowest
    first, each with its size and its mean predicted and actual purchases."""
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    order = np.argsort(predicted, kind="stable")
    return [
        {
            "group": number,
            "customers": len(chosen),
            "predicted": round(float(predicted[chosen].mean()), 4),
            "actual": round(float(actual[chosen].mean()), 4),
        }
        for number, chosen in enumerate(np.array_split(order, groups), 1)
        if len(chosen)
    ]


def calibration_end_of(as_of: date, holdout_days: int) -> date:
    return as_of - timedelta(days=holdout_days)


def backtest(
    *,
    model: str,
    data: dict[str, np.ndarray],
    as_of: date,
    holdout_days: int,
    minimum: int,
    sample_size: int,
) -> dict:
    """The backtest's figures from the run's summary arrays (``data``: first_day and the
    calibration columns, days since 1970). Says why instead when there is too little history
    or the fit does not converge (``skipped``)."""
    started = time.perf_counter()
    calibration_end = calibration_end_of(as_of, holdout_days)
    end_day = (calibration_end - date(1970, 1, 1)).days
    cohort = data["cal_purchase_days"] > 0 if len(data.get("first_day", ())) else np.array([])
    result = {
        "holdout_days": holdout_days,
        "calibration_end": calibration_end.isoformat(),
        "model": model,
        "customers": int(cohort.sum()),
    }

    def said(reason: str) -> dict:
        return {**result, "skipped": reason, "seconds": round(time.perf_counter() - started, 3)}

    if result["customers"] < minimum:
        return said(
            f"Only {result['customers']:,} customers had bought by {calibration_end.isoformat()} "
            f"(the model needs {minimum:,}): too little history for a backtest."
        )
    first = data["first_day"][cohort]
    x = data["cal_purchase_days"][cohort] - 1
    t_x = data["cal_last_day"][cohort] - first
    T = end_day - first
    actual = data["holdout_purchase_days"][cohort]
    rng = np.random.default_rng(seed=end_day)
    sample = rng.choice(len(x), size=min(sample_size, len(x)), replace=False)
    fitted = churn.fit(model, x[sample], t_x[sample], T[sample])
    if not fitted.converged:
        return said(f"The {model} fit on the history to {calibration_end} did not converge.")
    predicted = churn.expected_purchases(model, fitted.params, holdout_days, x, t_x, T)
    alive = churn.p_alive(model, fitted.params, x, t_x, T)
    if not (np.isfinite(predicted).all() and np.isfinite(alive).all()):
        return said(f"The {model} fit on the history to {calibration_end} predicts no number.")
    area = auc(1.0 - alive, actual == 0)
    return {
        **result,
        "parameters": fitted.params,
        "predicted_purchases": round(float(predicted.sum()), 2),
        "actual_purchases": int(actual.sum()),
        "mean_absolute_error": round(float(np.mean(np.abs(predicted - actual))), 4),
        "auc_churn": None if area is None else round(area, 4),
        "calibration": calibration_groups(predicted, actual),
        "seconds": round(time.perf_counter() - started, 3),
    }
