"""The CDNOW sample through the project's own code reproduces the published estimates.

The orders go in as a shop's history would (customers and orders in bulk, then the bulk sync);
the nightly run scores as of the end of the 39-week calibration period, 1997-09-30.
"""

from datetime import date

import numpy as np
import pytest

from customers.analytics.run import analytics_run
from customers.models import Customer

AS_OF = date(1997, 9, 30)

pytestmark = pytest.mark.django_db


def within(value, published, tolerance=0.01):
    return abs(value - published) <= tolerance * published


def test_bgnbd_and_gamma_gamma_match_the_published_estimates(cdnow):
    run = analytics_run(as_of=AS_OF, model="bgnbd")

    assert not run.fallback_used, run.fallback_reason
    assert run.customers_with_orders == 2357
    bgnbd = run.parameters["bgnbd"]
    assert within(bgnbd["r"], 0.243), bgnbd
    assert within(bgnbd["alpha"] / 7, 4.414), bgnbd  # fitted in days, published in weeks
    assert within(bgnbd["a"], 0.793), bgnbd
    assert within(bgnbd["b"], 2.426), bgnbd
    gamma_gamma = run.parameters["gamma_gamma"]
    assert within(gamma_gamma["p"], 6.25), gamma_gamma
    assert within(gamma_gamma["q"], 3.74), gamma_gamma
    assert within(gamma_gamma["gamma"], 15.44), gamma_gamma


def test_mbgnbd_one_time_buyers_are_less_alive_the_longer_ago_they_bought(cdnow):
    run = analytics_run(as_of=AS_OF, model="mbgnbd")

    assert not run.fallback_used, run.fallback_reason
    first_purchase = {}
    purchase_days = {}
    for row in cdnow:
        day = date.fromisoformat(row["order_date"])
        if day <= AS_OF:
            key = f"CDNOW-{row['customer_id']}"
            first_purchase[key] = min(first_purchase.get(key, day), day)
            purchase_days.setdefault(key, set()).add(day)
    one_timers = {key for key, days in purchase_days.items() if len(days) == 1}
    scored = Customer.objects.filter(external_id__in=one_timers).values_list(
        "external_id", "p_alive"
    )
    ages = np.array([(AS_OF - first_purchase[key]).days for key, _ in scored])
    alive = np.array([value for _, value in scored])
    assert len(alive) > 1000
    assert np.all(alive < 1)
    order = np.argsort(ages)
    assert np.all(np.diff(alive[order]) <= 1e-12)  # never rises with age
    assert alive[ages == ages.min()].mean() > alive[ages == ages.max()].mean()
    churn_risk = Customer.objects.filter(external_id__in=one_timers).values_list(
        "churn_risk", flat=True
    )
    assert all(0 < risk < 1 for risk in churn_risk)
