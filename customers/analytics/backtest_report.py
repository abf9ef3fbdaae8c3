"""The backtest's figures (customers.analytics.backtest) as staff read them: the sentence of the
dashboard and what the backtest's partial shows. Light on purpose, like vocabulary.py: the web
process imports it without numpy or scipy."""

from customers.analytics.vocabulary import MODELS, Model


def backtest_sentence(figures: dict) -> str:
    """One sentence for staff: "Last 90 days: predicted 1,204 repeat purchases, 1,312 happened
    (-8%). Churn risk ranks correctly 71% of the time." (the sign a true minus), or why there
    is none."""
    if not figures:
        return ""
    if figures.get("skipped"):
        return f"No backtest: {figures['skipped']}"
    predicted, actual = figures["predicted_purchases"], figures["actual_purchases"]
    sentence = (
        f"Last {figures['holdout_days']} days: predicted {round(predicted):,} repeat purchases, "
        f"{actual:,} happened"
    )
    if actual:
        sentence += f" ({(predicted - actual) / actual:+.0%})".replace("-", "\u2212")
    sentence += "."
    if figures.get("auc_churn") is not None:
        sentence += f" Churn risk ranks correctly {figures['auc_churn']:.0%} of the time."
    return sentence


def backtest_context(figures: dict) -> dict:
    """What the backtest's partial (customers/partials/backtest.html) shows: the figures, the
    sentence and the calibration chart's data (predicted and actual mean per group)."""
    groups = figures.get("calibration") or []
    model = figures.get("model")
    return {
        "backtest": figures,
        "backtest_model": Model(model).label if model in MODELS else model,
        "backtest_sentence": backtest_sentence(figures),
        "backtest_chart": {
            "labels": [f"Group {group['group']}" for group in groups],
            "predicted": [group["predicted"] for group in groups],
            "actual": [group["actual"] for group in groups],
        },
    }
