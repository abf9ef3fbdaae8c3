"""The model formulas on small cases checked by hand."""

import math

import numpy as np
import pytest

from customers.analytics import churn, rfm, spend

UNIT = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}


def test_bgnbd_likelihood_of_a_one_time_buyer_is_the_poisson_gamma_no_purchase_term():
    # x = 0: L = (alpha / (alpha + T))^r, whatever a and b.
    ll = churn.log_likelihood("bgnbd", {**UNIT, "r": 2.0, "alpha": 3.0}, [0], [0], [1])
    assert ll[0] == pytest.approx(2.0 * math.log(3.0 / 4.0))


def test_bgnbd_likelihood_with_repeat_purchases_by_hand():
    # r=a=b=alpha=1, x=1, t_x=1, T=2:
    # B(1,2)/B(1,1) * G(2)/G(1) * 1/(3^2) + B(2,1)/B(1,1) * G(2)/G(1) * 1/(2^2)
    expected = 0.5 / 9 + 0.5 / 4
    assert churn.log_likelihood("bgnbd", UNIT, [1], [1], [2])[0] == pytest.approx(
        math.log(expected)
    )


def test_mbgnbd_likelihood_by_hand():
    # x=0, t_x=0, T=1: B(1,2)/B(1,1) * 1/2 + B(2,1)/B(1,1) * 1/1 = 0.25 + 0.5
    assert churn.log_likelihood("mbgnbd", UNIT, [0], [0], [1])[0] == pytest.approx(math.log(0.75))


def test_p_alive_by_hand():
    # BG/NBD: a customer who never came back is alive for sure.
    assert churn.p_alive("bgnbd", UNIT, [0], [0], [10])[0] == 1.0
    # MBG/NBD, x=0, T=1: 1 / (1 + a/b * ((alpha+T)/alpha)^r) = 1/3
    assert churn.p_alive("mbgnbd", UNIT, [0], [0], [1])[0] == pytest.approx(1 / 3)
    # BG/NBD, x=2, t_x=1, T=3: 1 / (1 + a/(b+x-1) * ((1+3)/(1+1))^(1+2)) = 1 / (1 + 4)
    assert churn.p_alive("bgnbd", UNIT, [2], [1], [3])[0] == pytest.approx(0.2)


def test_mbgnbd_one_time_buyers_fade_with_age():
    ages = np.array([10.0, 50.0, 200.0, 500.0])
    alive = churn.p_alive(
        "mbgnbd", {"r": 0.5, "alpha": 40, "a": 0.9, "b": 1.6}, 0 * ages, 0 * ages, ages
    )
    assert np.all(alive < 1) and np.all(np.diff(alive) < 0)


@pytest.mark.parametrize("model", churn.MODELS)
def test_expected_purchases_without_dropout_is_the_gamma_poisson_mean(model):
    # With a tiny drop-out probability the expectation is (r + x) / (alpha + T) per day.
    params = {"r": 2.0, "alpha": 10.0, "a": 2.0, "b": 1e7}
    got = churn.expected_purchases(model, params, 30, [3], [20], [40])[0]
    assert got == pytest.approx((2 + 3) / (10 + 40) * 30, rel=1e-4)


@pytest.mark.parametrize("model", churn.MODELS)
def test_expected_purchases_grow_with_the_horizon(model):
    params = {"r": 0.3, "alpha": 30, "a": 0.8, "b": 2.4}
    horizons = [
        churn.expected_purchases(model, params, t, [2], [100], [200])[0] for t in (30, 90, 365)
    ]
    assert 0 < horizons[0] < horizons[1] < horizons[2]


def test_fit_recovers_parameters_of_simulated_data():
    rng = np.random.default_rng(7)
    true = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
    n, T = 6000, 365.0
    lam = rng.gamma(true["r"], 1 / true["alpha"], n)
    p = rng.beta(true["a"], true["b"], n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):  # BG/NBD: purchases at Poisson(lam) until a drop-out after a purchase
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    fitted = churn.fit("bgnbd", x, t_x, np.full(n, T))
    assert fitted.converged
    for name, value in true.items():
        assert fitted.params[name] == pytest.approx(value, rel=0.25), name


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="Unknown churn model"):
        churn.fit("pareto", [0], [0], [1])


def test_gamma_gamma_expected_spend_by_hand():
    params = {"p": 1.0, "q": 2.0, "gamma": 10.0}
    # p (gamma + x m) / (p x + q - 1) = (10 + 20) / 2
    assert spend.expected_spend(params, [1], [20.0])[0] == pytest.approx(15.0)
    # No repeat purchase: the population mean p gamma / (q - 1).
    assert spend.expected_spend(params, [0], [0.0])[0] == pytest.approx(10.0)


def test_gamma_gamma_ignores_zero_value_customers_when_fitting():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 800).astype(float)
    m = rng.gamma(6, 15 / (3.7 - 1) / 6 * 1.0, 800)
    x = np.append(x, [3, 2, 0])
    m = np.append(m, [0.0, -5.0, 0.0])  # refunds and vouchers: zero or negative mean spend

    fitted = spend.fit(x, m)

    assert fitted.converged
    assert fitted.extra["customers"] == 800
    assert np.isfinite(spend.expected_spend(fitted.params, x, m)).all()


def test_quintile_scores_give_ties_one_score():
    values = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 10])
    scores = rfm.score_higher_better(values, rfm.quintile_cuts(values))
    assert len(set(scores[values == 1])) == 1
    assert len(set(scores[values == 2])) == 1
    assert scores.min() >= 1 and scores.max() <= 5
    assert list(scores) == sorted(scores)


def test_recency_scores_favour_recent_customers():
    days = np.array([1, 5, 20, 40, 80, 120, 200, 300, 400, 700])
    scores = rfm.score_lower_better(days, rfm.quintile_cuts(days))
    assert scores[0] == 5 and scores[-1] == 1
    assert list(scores) == sorted(scores, reverse=True)


def test_fixed_thresholds(settings):
    settings.CRM_RFM_METHOD = "fixed"
    r, f, m = rfm.rfm_scores([10, 45, 75, 150, 400], [12, 8, 5, 2, 1], [6000, 3000, 1500, 600, 10])
    assert list(r) == [5, 4, 3, 2, 1]
    assert list(f) == [5, 4, 3, 2, 1]
    assert list(m) == [5, 4, 3, 2, 1]


def test_segment_map_first_match_wins_and_covers_every_cell():
    assert rfm.segments(
        [5, 4, 5, 4, 3, 3, 1, 2, 2, 1, 3], [5, 5, 1, 1, 3, 1, 4, 5, 2, 1, 5]
    ).tolist() == [
        "Champions",
        "Champions",
        "New Customers",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "At Risk",
        "Can't Lose Them",
        "Hibernating",
        "Lost",
        "Loyal Customers",
    ]
    assert all(rfm.SEGMENT_TABLE[r, f] for r in range(1, 6) for f in range(1, 6))
