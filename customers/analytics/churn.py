"""Buy-till-you-die models of repeat buying: BG/NBD and MBG/NBD.

Each customer is summarised by x (repeat purchases: distinct purchase days minus one), t_x (time
from the first to the last purchase) and T (time from the first purchase to the as-of date), all
in days. While "alive" a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha);
after each purchase they drop out with probability p ~ Beta(a, b).

- BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): drop-out can happen
  only after a repeat purchase, so a customer who never came back is always "alive".
- MBG/NBD (Batislam, Denizel & Filiztekin 2007): drop-out can also happen right after the first
  purchase, so one-time buyers grow less likely to be alive as time passes. This is the default.

All functions are plain, vectorised over numpy arrays, and take parameters as a dict with keys
r, alpha, a, b.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from customers.analytics.vocabulary import MODELS, Model

PARAMETERS = ("r", "alpha", "a", "b")


@dataclass
class FitResult:
    model: str
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str = ""
    extra: dict = field(default_factory=dict)


def _check(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"Unknown churn model {model!r}; choose one of {', '.join(MODELS)}.")


def log_likelihood(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """Each customer's log-likelihood of (x, t_x, T) under the model."""
    _check(model)
    r, alpha, a, b = (params[name] for name in PARAMETERS)
    x, t_x, T = (np.asarray(values, dtype=float) for values in (x, t_x, T))
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    if model == Model.BGNBD:
        still_alive = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            dropped = np.where(
                x > 0,
                special.betaln(a + 1, b + x - 1) - beta_ab - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
    else:
        still_alive = special.betaln(a, b + x + 1) - beta_ab - (r + x) * np.log(alpha + T)
        dropped = special.betaln(a + 1, b + x) - beta_ab - (r + x) * np.log(alpha + t_x)
    return head + np.logaddexp(still_alive, dropped)


def _compress(x, t_x, T):
    """Identical (x, t_x, T) rows share one likelihood term; fitting counts them once, weighted."""
    rows = np.column_stack([x, t_x, T]).astype(float)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(float)


def fit(model: str, x, t_x, T, *, initial: dict | None = None) -> FitResult:
    """Maximum-likelihood estimates of r, alpha, a, b (optimised on the log scale, so all stay
    positive). ``converged`` is False when the optimiser gave up or the estimates are degenerate."""
    _check(model)
    x, t_x, T, weights = _compress(x, t_x, T)
    scale = float(np.mean(T)) or 1.0
    start = initial or {"r": 1.0, "alpha": scale, "a": 1.0, "b": 1.0}

    def negative(log_params):
        params = dict(zip(PARAMETERS, np.exp(log_params), strict=True))
        value = -np.sum(weights * log_likelihood(model, params, x, t_x, T))
        return value if np.isfinite(value) else 1e300

    result = optimize.minimize(
        negative,
        np.log([start[name] for name in PARAMETERS]),
        method="Nelder-Mead",
        options={"maxiter": 4000, "maxfev": 8000, "xatol": 1e-7, "fatol": 1e-7, "adaptive": True},
    )
    params = dict(zip(PARAMETERS, (float(v) for v in np.exp(result.x)), strict=True))
    ll = -float(result.fun)
    sane = all(1e-6 < value < 1e6 for value in params.values()) and np.isfinite(ll)
    return FitResult(
        model=model,
        params=params,
        log_likelihood=ll,
        converged=bool(result.success and sane),
        message=str(result.message),
        extra={"iterations": int(result.nit), "customers": int(weights.sum())},
    )


def p_alive(model: str, params: dict, x, t_x, T) -> np.ndarray:
    """Probability that each customer is still active at T."""
    _check(model)
    r, alpha, a, b = (params[name] for name in PARAMETERS)
    x, t_x, T = (np.asarray(values, dtype=float) for values in (x, t_x, T))
    ratio = ((alpha + T) / (alpha + t_x)) ** (r + x)
    if model == Model.BGNBD:
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(x > 0, a / (b + x - 1) * ratio, 0.0)
    else:
        odds = a / (b + x) * ratio
    return 1.0 / (1.0 + odds)


def expected_purchases(model: str, params: dict, t: float, x, t_x, T) -> np.ndarray:
    """Expected number of purchases in the next ``t`` days, given each customer's history."""
    _check(model)
    r, alpha, a, b = (params[name] for name in PARAMETERS)
    x, t_x, T = (np.asarray(values, dtype=float) for values in (x, t_x, T))
    z = t / (alpha + T + t)
    decay = ((alpha + T) / (alpha + T + t)) ** (r + x)
    if model == Model.BGNBD:
        growth = (a + b + x - 1) / (a - 1)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    else:
        growth = (a + b + x) / (a - 1)
        hyp = special.hyp2f1(r + x, b + x + 1, a + b + x, z)
    numerator = growth * (1.0 - hyp * decay)
    return numerator * p_alive(model, params, x, t_x, T)


def expected_purchases_new_customer(model: str, params: dict, t: float) -> float:
    """Expected purchases in ``t`` days by a customer who has just made a first purchase."""
    return float(expected_purchases(model, params, t, [0.0], [0.0], [0.0])[0])
