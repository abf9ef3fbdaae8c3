from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer, Order


class LoyaltyProgram(models.Model):
    class TierBasis(models.TextChoices):
        LIFETIME_POINTS = "lifetime_points", "Lifetime points"
        POINTS_12M = "points_12m", "Points earned in the last 12 months"
        SPEND_12M = "spend_12m", "Spend in the last 12 months"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    starts_on = models.DateField(null=True, blank=True, help_text="Blank: from the start.")
    ends_on = models.DateField(null=True, blank=True, help_text="Blank: open-ended.")
    points_per_unit = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=1,
        validators=[MinValueValidator(0)],
        help_text="Points per unit of currency spent; fractions allowed (0.5 = a point per 2).",
    )
    minimum_spend = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="An order below this total earns nothing.",
    )
    points_expire_after_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Blank: points never expire."
    )
    pending_days = models.PositiveIntegerField(
        default=0, help_text="Earned points wait this many days (the return window) before use."
    )
    tier_basis = models.CharField(
        max_length=20, choices=TierBasis.choices, default=TierBasis.LIFETIME_POINTS
    )
    auto_enrol = models.BooleanField(
        "enrol automatically",
        default=True,
        help_text="Enrol customers on their first qualifying delivered order.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True)
                | Q(starts_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="program_ends_after_start",
                violation_error_message="The program cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=Q(points_per_unit__gte=0), name="program_points_per_unit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_running(self, on=None) -> bool:
        on = on or timezone.localdate()
        return (
            self.is_active
            and (self.starts_on is None or self.starts_on <= on)
            and (self.ends_on is None or on <= self.ends_on)
        )


class Tier(models.Model):
    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=50)
    threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Points or spend (per the program's tier basis) needed to reach this tier.",
    )
    earn_multiplier = models.DecimalField(
        max_digits=5, decimal_places=2, default=1, validators=[MinValueValidator(0)]
    )
    benefits = models.TextField(blank=True)

    class Meta:
        ordering = ["program", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="tier_name_unique"),
            models.UniqueConstraint(fields=["program", "threshold"], name="tier_threshold_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.program} · {self.name}"


class Reward(models.Model):
    class RewardType(models.TextChoices):
        PERCENT_DISCOUNT = "percent_discount", "Percent discount"
        AMOUNT_DISCOUNT = "amount_discount", "Amount discount"
        FREE_SHIPPING = "free_shipping", "Free shipping"
        GIFT = "gift", "Gift"
        CASHBACK = "cashback", "Cashback"

    program = models.ForeignKey(LoyaltyProgram, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    points_cost = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    reward_type = models.CharField(max_length=20, choices=RewardType.choices)
    value = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    is_active = models.BooleanField(default=True)
    valid_until = models.DateField(null=True, blank=True)
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: unlimited.")

    class Meta:
        ordering = ["program", "points_cost"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gte=1), name="reward_cost_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_cost} points)"


class LoyaltyAccount(models.Model):
    """A customer's membership of one program. balance is what can be spent now; pending_points
    wait for the return window; points_owed were spent before the order that earned them left
    delivered, and are paid from the next points in. All three are kept by the services in step
    with the ledger and lots (loyalty/services/ledger.py)."""

    # A customer with a loyalty ledger is made inactive, never deleted with it.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="loyalty_accounts"
    )
    program = models.ForeignKey(LoyaltyProgram, on_delete=models.PROTECT, related_name="accounts")
    balance = models.IntegerField(default=0)
    pending_points = models.IntegerField(default=0)
    lifetime_earned = models.IntegerField(default=0)
    lifetime_redeemed = models.IntegerField(default=0)
    points_owed = models.IntegerField(
        default=0,
        help_text="Points spent before their order left delivered; paid from the next points in.",
    )
    tier = models.ForeignKey(
        Tier, on_delete=models.SET_NULL, null=True, blank=True, related_name="accounts"
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "program"], name="account_unique"),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="account_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(pending_points__gte=0), name="account_pending_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(points_owed__gte=0), name="account_owed_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["program", "tier"], name="account_program_tier_idx")]

    def __str__(self) -> str:
        return f"{self.customer} · {self.program}"


class PointLot(models.Model):
    """An earned batch of points. Spending takes from the oldest lots first; expiry zeroes what
    is left. A lot is pending until available_at (released flips once, in the nightly run)."""

    account = models.ForeignKey(LoyaltyAccount, on_delete=models.CASCADE, related_name="lots")
    points = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    earned_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    released = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["earned_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("points")), name="lot_remaining_within_points"
            ),
        ]
        indexes = [
            models.Index(
                fields=["account", "earned_at"],
                condition=Q(remaining__gt=0),
                name="lot_open_idx",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_expiry_idx"
            ),
            models.Index(
                fields=["available_at"], condition=Q(released=False), name="lot_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points} points"


class LoyaltyTransaction(models.Model):
    """The ledger: one signed row per movement of points. Rows are never edited, except that an
    earn is marked reversed when its order leaves delivered."""

    class Kind(models.TextChoices):
        EARN = "earn", "Earn"
        REDEEM = "redeem", "Redeem"
        ADJUST = "adjust", "Adjust"
        EXPIRE = "expire", "Expire"
        REVERSE = "reverse", "Reverse"

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="transactions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    points = models.IntegerField()
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="loyalty_transactions"
    )
    reward = models.ForeignKey(Reward, on_delete=models.SET_NULL, null=True, blank=True)
    redemption = models.ForeignKey(
        "Redemption", on_delete=models.SET_NULL, null=True, blank=True, related_name="transactions"
    )
    lot = models.OneToOneField(
        PointLot, on_delete=models.SET_NULL, null=True, blank=True, related_name="transaction"
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reversed_by"
    )
    reversed = models.BooleanField(default=False)
    shortfall = models.PositiveIntegerField(
        default=0,
        help_text="Points a reversal could not take back because they were spent: now owed.",
    )
    description = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # An order earns at most once per program (account = customer + program) while the
            # earn stands; after a reversal a new delivery may earn again.
            models.UniqueConstraint(
                fields=["account", "order"],
                condition=Q(kind="earn", reversed=False),
                name="one_effective_earn_per_order",
            ),
            # Reversals recorded before points owed existed may have taken back nothing.
            models.CheckConstraint(
                condition=~Q(points=0) | Q(kind="reverse"), name="transaction_points_not_zero"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "created_at"], name="ledger_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}"


class Redemption(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", "Issued"
        USED = "used", "Used"
        CANCELLED = "cancelled", "Cancelled"

    account = models.ForeignKey(
        LoyaltyAccount, on_delete=models.CASCADE, related_name="redemptions"
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField()
    code = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    # Which lots paid for it ({lot id: points}), so a cancellation puts the points back there.
    lots_used = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.code
