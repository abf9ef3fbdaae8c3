"""The Gamma-Gamma model of spend per purchase (Fader & Hardie 2013, "The Gamma-Gamma Model of
Monetary Value").

A customer's purchase values are Gamma(p, nu) around their own mean, and nu varies across
customers as Gamma(q, gamma). It is fitted on customers with at least one repeat purchase and a
positive mean spend (x = repeat purchases, m = mean value of those purchases) and assumes spend
is independent of how often a customer buys. Parameters are a dict with keys p, q, gamma.
"""

import numpy as np
from scipy import optimize, special

from customers.analytics.churn import FitResult

PARAMETERS = ("p", "q", "gamma")


def log_likelihood(params: dict, x, m) -> np.ndarray:
    """Each customer's log-likelihood of x purchases with mean value m (x >= 1, m > 0)."""
    p, q, gamma = (params[name] for name in PARAMETERS)
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(gamma + x * m)
    )


def usable(x, m) -> np.ndarray:
    """Which customers the model can be fitted on: a repeat purchase and a positive mean spend
    (real data has zero-value purchases: refunds, vouchers, gifts)."""
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    return (x >= 1) & (m > 0) & np.isfinite(m)


def fit(x, m) -> FitResult:
    """Maximum-likelihood p, q, gamma over the usable customers."""
    keep = usable(x, m)
    x, m = np.asarray(x, dtype=float)[keep], np.asarray(m, dtype=float)[keep]
    if not len(x):
        return FitResult("gamma_gamma", {}, float("nan"), False, "no customer to fit on")
    rows, counts = np.unique(np.column_stack([x, m]), axis=0, return_counts=True)
    x, m, weights = rows[:, 0], rows[:, 1], counts.astype(float)

    def negative(log_params):
        params = dict(zip(PARAMETERS, np.exp(log_params), strict=True))
        value = -np.sum(weights * log_likelihood(params, x, m))
        return value if np.isfinite(value) else 1e300

    start = np.log([1.0, 1.0, float(np.mean(m))])
    result = optimize.minimize(
        negative,
        start,
        method="Nelder-Mead",
        options={"maxiter": 4000, "maxfev": 8000, "xatol": 1e-7, "fatol": 1e-7, "adaptive": True},
    )
    params = dict(zip(PARAMETERS, (float(v) for v in np.exp(result.x)), strict=True))
    ll = -float(result.fun)
    # The expected spend needs q > 1 (a finite mean of the population's spend).
    sane = params["q"] > 1 and all(1e-6 < v < 1e9 for v in params.values()) and np.isfinite(ll)
    return FitResult(
        model="gamma_gamma",
        params=params,
        log_likelihood=ll,
        converged=bool(result.success and sane),
        message=str(result.message),
        extra={"customers": int(weights.sum())},
    )


def expected_spend(params: dict, x, m) -> np.ndarray:
    """Expected value of a customer's next purchase: a weighted mean of the population's mean
    and the customer's own, trusting the customer's more the more they have bought."""
    p, q, gamma = (params[name] for name in PARAMETERS)
    x, m = np.asarray(x, dtype=float), np.asarray(m, dtype=float)
    m = np.where(np.isfinite(m) & (m > 0), m, 0.0)
    return p * (gamma + x * m) / (p * x + q - 1)
