"""Every write to loyalty: enrolment, earning, reversal, redemption, adjustment and the nightly
release, expiry and tier runs. Callers use ``from loyalty import services`` and the names below.

What callers may rely on, after any of these functions:
- an account's balance equals the remaining points of its released lots, its pending_points the
  remaining points of its unreleased lots, and the sum of its ledger equals balance + pending
  (every movement of points goes through ``ledger_post``, which owns that rule);
- balance never goes below zero, and writes to one account are serialised by a row lock;
- an order earns at most once per program while the earn stands (a database constraint), and a
  reversal takes back exactly what the earn gave, or everything left, recording the shortfall.
Bad input raises ValidationError naming the field, and nothing is written.

Modules: ``programs`` (default tiers, enrolment), ``earn`` (delivery, catch-up, reversal),
``redeem`` (rewards and vouchers), ``ledger`` (the posting function, lot consumption,
adjustments), ``nightly`` (release, expiry, tiers).
"""

from loyalty.services.earn import loyalty_catch_up, loyalty_order_earn, loyalty_order_reverse
from loyalty.services.ledger import LotChange, ledger_post, loyalty_points_adjust
from loyalty.services.nightly import (
    loyalty_nightly,
    loyalty_points_expire,
    loyalty_points_release,
    loyalty_tiers_recompute,
)
from loyalty.services.programs import (
    DEFAULT_TIERS,
    loyalty_account_enrol,
    loyalty_account_enrol_check,
    loyalty_program_default_tiers_create,
)
from loyalty.services.redeem import (
    loyalty_redemption_cancel,
    loyalty_redemption_mark_used,
    loyalty_reward_redeem,
)

__all__ = [
    "DEFAULT_TIERS",
    "LotChange",
    "ledger_post",
    "loyalty_account_enrol",
    "loyalty_account_enrol_check",
    "loyalty_catch_up",
    "loyalty_nightly",
    "loyalty_order_earn",
    "loyalty_order_reverse",
    "loyalty_points_adjust",
    "loyalty_points_expire",
    "loyalty_points_release",
    "loyalty_program_default_tiers_create",
    "loyalty_redemption_cancel",
    "loyalty_redemption_mark_used",
    "loyalty_reward_redeem",
    "loyalty_tiers_recompute",
]
