from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.text import slugify
from phonenumber_field.modelfields import PhoneNumberField


class CrmModel(models.Model):
    """A model whose listed columns are written only by set-based UPDATEs, never by save().

    Customer stats and the order's delivery flag are kept by conditional UPDATEs with F()
    expressions. A full save() of an instance loaded earlier (an admin form left open, a stale
    object in a job) would write old values over them, so a save of an existing row leaves them out.
    Constraint violations on expressions (a Lower(email) unique index) are reported on the field
    named in ``constraint_error_fields`` instead of on the form as a whole.
    """

    protected_fields: tuple[str, ...] = ()
    constraint_error_fields: dict[str, str] = {}

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        full_update = not self._state.adding and not kwargs.get("force_insert")
        if self.protected_fields and full_update and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in self.protected_fields
            ]
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict({})
            for item in list(errors.get(NON_FIELD_ERRORS, [])):
                field = self.constraint_error_fields.get(getattr(item, "code", None))
                if field:
                    errors[NON_FIELD_ERRORS].remove(item)
                    errors.setdefault(field, []).append(item)
            if not errors.get(NON_FIELD_ERRORS):
                errors.pop(NON_FIELD_ERRORS, None)
            raise ValidationError(errors) from error


def money_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("max_digits", 14)
    kwargs.setdefault("decimal_places", 2)
    return models.DecimalField(**kwargs)


class Customer(CrmModel):
    class Gender(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        NON_BINARY = "non_binary", "Non-binary"
        UNDISCLOSED = "undisclosed", "Prefer not to say"

    class CustomerType(models.TextChoices):
        RETAIL = "retail", "Retail"
        WALK_IN = "walk_in", "Walk-in"
        REGULAR = "regular", "Regular"
        VIP = "vip", "VIP"
        WHOLESALE = "wholesale", "Wholesale"
        DISTRIBUTOR = "distributor", "Distributor"

    class Source(models.TextChoices):
        DIRECT = "direct", "Direct"
        ONLINE = "online", "Online"
        MARKETPLACE = "marketplace", "Marketplace"
        REFERRAL = "referral", "Referral"
        WALK_IN = "walk_in", "Walk-in"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INACTIVE = "inactive", "Inactive"
        SUSPENDED = "suspended", "Suspended"

    class ContactTime(models.TextChoices):
        ANY = "any", "Any time"
        MORNING = "morning", "Morning"
        AFTERNOON = "afternoon", "Afternoon"
        EVENING = "evening", "Evening"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PHONE = "phone", "Phone"
        PUSH = "push", "Push"

    class RfmSegment(models.TextChoices):
        CHAMPIONS = "Champions"
        LOYAL = "Loyal Customers"
        POTENTIAL_LOYALISTS = "Potential Loyalists"
        NEW = "New Customers"
        PROMISING = "Promising"
        NEED_ATTENTION = "Need Attention"
        ABOUT_TO_SLEEP = "About to Sleep"
        AT_RISK = "At Risk"
        CANT_LOSE = "Can't Lose Them"
        HIBERNATING = "Hibernating"
        LOST = "Lost"
        PROSPECT = "Prospect"

    STATS_FIELDS = (
        "order_count",
        "total_spent",
        "total_items",
        "average_order_value",
        "first_order_at",
        "last_order_at",
    )
    ANALYTICS_FIELDS = (
        "rfm_recency",
        "rfm_frequency",
        "rfm_monetary",
        "rfm_segment",
        "churn_risk",
        "p_alive",
        "expected_orders_90d",
        "predicted_clv",
        "analytics_at",
    )
    protected_fields = STATS_FIELDS + ANALYTICS_FIELDS
    constraint_error_fields = {"duplicate_email": "email"}

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True, db_index=True)
    company = models.CharField(max_length=200, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=20, choices=Gender.choices, blank=True)
    customer_type = models.CharField(
        max_length=20, choices=CustomerType.choices, default=CustomerType.RETAIL
    )
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.DIRECT)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    external_id = models.CharField(
        "external ID",
        max_length=100,
        blank=True,
        help_text="The customer's id in the shop or point of sale; the key for imports.",
    )

    accepts_email = models.BooleanField(default=False)
    accepts_sms = models.BooleanField(default=False)
    accepts_phone = models.BooleanField(default=False)
    accepts_push = models.BooleanField(default=False)
    do_not_contact = models.BooleanField(default=False)
    can_receive_offers = models.BooleanField(default=True)
    can_receive_loyalty = models.BooleanField(default=True)
    best_contact_time = models.CharField(
        max_length=20, choices=ContactTime.choices, default=ContactTime.ANY
    )
    preferred_channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    preferred_payment = models.CharField(max_length=50, blank=True)
    preferred_categories = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Free-form preferences: sizes, allergies, stylist…"
    )

    tags = models.ManyToManyField(
        "Tag", through="CustomerTag", related_name="customers", blank=True
    )

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Stats over delivered orders, kept by customers/stats.py on every status change.
    order_count = models.PositiveIntegerField(default=0, editable=False)
    total_spent = money_field(default=0, editable=False)
    total_items = models.PositiveIntegerField(default=0, editable=False)
    average_order_value = money_field(default=0, editable=False)
    first_order_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_order_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Written by the nightly analytics run.
    rfm_recency = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    rfm_frequency = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    rfm_monetary = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    rfm_segment = models.CharField(
        max_length=30, choices=RfmSegment.choices, blank=True, editable=False
    )
    churn_risk = models.FloatField(null=True, blank=True, editable=False)
    p_alive = models.FloatField(null=True, blank=True, editable=False)
    expected_orders_90d = models.FloatField(null=True, blank=True, editable=False)
    predicted_clv = money_field(null=True, blank=True, editable=False)
    analytics_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="customer_email_ci_unique",
                violation_error_code="duplicate_email",
                violation_error_message="A customer with this email already exists.",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="customer_external_id_unique",
                violation_error_code="unique",
                violation_error_message="A customer with this external ID already exists.",
            ),
            models.CheckConstraint(
                condition=Q(total_spent__gte=0),
                name="customer_total_spent_not_negative",
                violation_error_message="Total spent cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(average_order_value__gte=0),
                name="customer_average_order_value_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(predicted_clv__isnull=True) | Q(predicted_clv__gte=0),
                name="customer_predicted_clv_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(churn_risk__isnull=True) | Q(churn_risk__gte=0, churn_risk__lte=1),
                name="customer_churn_risk_range",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "customer_type"], name="customer_status_type_idx"),
            models.Index(fields=["source"], name="customer_source_idx"),
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
            models.Index(fields=["total_spent"], name="customer_total_spent_idx"),
            models.Index(fields=["order_count"], name="customer_order_count_idx"),
            models.Index(fields=["last_order_at"], name="customer_last_order_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Customer {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Address(models.Model):
    class Kind(models.TextChoices):
        BILLING = "billing", "Billing"
        SHIPPING = "shipping", "Shipping"
        HOME = "home", "Home"
        OFFICE = "office", "Office"
        OTHER = "other", "Other"

    class VerificationStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SHIPPING)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, help_text="ISO 3166 two-letter code, such as US.")
    is_default = models.BooleanField(default=False)
    verification_status = models.CharField(
        max_length=20, choices=VerificationStatus.choices, default=VerificationStatus.PENDING
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_notes = models.TextField(blank=True)
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "addresses"
        ordering = ["-is_default", "kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"],
                condition=Q(is_default=True),
                name="address_one_default_per_kind",
                violation_error_message="This customer already has a default address of this kind.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["verification_status", "created_at"], name="address_verification_idx"
            ),
        ]

    def __str__(self) -> str:
        parts = [self.line1, self.city, self.postal_code, self.country]
        return ", ".join(part for part in parts if part)

    def clean(self):
        if self.country:
            self.country = self.country.upper()


class Order(CrmModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        PROCESSING = "processing", "Processing"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        RETURNED = "returned", "Returned"
        REFUNDED = "refunded", "Refunded"

    class PaymentMethod(models.TextChoices):
        CARD = "card", "Card"
        CASH = "cash", "Cash"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        WALLET = "wallet", "Mobile wallet"
        GIFT_CARD = "gift_card", "Gift card"
        OTHER = "other", "Other"

    class Channel(models.TextChoices):
        IN_STORE = "in_store", "In store"
        ONLINE = "online", "Online"
        PHONE = "phone", "Phone"
        MARKETPLACE = "marketplace", "Marketplace"

    # Which status may follow which; a move out of delivered reverses the order's stats and points.
    TRANSITIONS: dict[str, frozenset[str]] = {
        Status.PENDING: frozenset({"paid", "processing", "delivered", "cancelled"}),
        Status.PAID: frozenset({"processing", "shipped", "delivered", "cancelled", "refunded"}),
        Status.PROCESSING: frozenset({"shipped", "delivered", "cancelled", "refunded"}),
        Status.SHIPPED: frozenset({"delivered", "returned", "cancelled"}),
        Status.DELIVERED: frozenset({"returned", "refunded", "cancelled"}),
        Status.RETURNED: frozenset({"refunded", "delivered"}),
        Status.CANCELLED: frozenset(),
        Status.REFUNDED: frozenset(),
    }

    protected_fields = ("stats_applied",)
    constraint_error_fields = {"negative_total": "total"}

    # A customer with orders is made inactive, never deleted with them.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(max_length=50, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    placed_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    total = money_field(default=0)
    currency = models.CharField(max_length=3, default=settings.CRM_CURRENCY)
    item_count = models.PositiveIntegerField(default=0)
    payment_method = models.CharField(max_length=20, choices=PaymentMethod.choices, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    notes = models.TextField(blank=True)
    # True while the order is counted in its customer's stats; flipped only by conditional UPDATEs.
    stats_applied = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gte=0),
                name="order_total_not_negative",
                violation_error_code="negative_total",
                violation_error_message="The total cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["customer", "status", "placed_at"], name="order_customer_status_idx"
            ),
            models.Index(fields=["status", "placed_at"], name="order_status_placed_idx"),
            models.Index(fields=["placed_at"], name="order_placed_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    @classmethod
    def check_transition(cls, old: str, new: str) -> None:
        """Raise a ValidationError on ``status`` unless an order may move from old to new."""
        if old != new and new not in cls.TRANSITIONS.get(old, frozenset()):
            raise ValidationError(
                {
                    "status": (
                        f"An order cannot move from {cls.Status(old).label.lower()} "
                        f"to {cls.Status(new).label.lower()}."
                    )
                },
                code="invalid_transition",
            )


class OrderItem(CrmModel):
    constraint_error_fields = {
        "negative_unit_price": "unit_price",
        "negative_line_total": "line_total",
        "quantity_below_one": "quantity",
    }

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField("SKU", max_length=64, blank=True)
    product_name = models.CharField(max_length=200)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = money_field(max_digits=12)
    line_total = money_field(max_digits=12)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0),
                name="order_item_unit_price_not_negative",
                violation_error_code="negative_unit_price",
                violation_error_message="The unit price cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(line_total__gte=0),
                name="order_item_line_total_not_negative",
                violation_error_code="negative_line_total",
                violation_error_message="The line total cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="order_item_quantity_positive",
                violation_error_code="quantity_below_one",
                violation_error_message="The quantity must be at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_name}"


class OrderStatusChange(models.Model):
    """One row per status move made through order_set_status: who moved it, from what, when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, choices=Order.Status.choices)
    to_status = models.CharField(max_length=20, choices=Order.Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.order}: {self.from_status} → {self.to_status}"


class Note(models.Model):
    class Kind(models.TextChoices):
        INTERNAL = "internal", "Internal"
        FOLLOW_UP = "follow_up", "Follow-up"
        REMINDER = "reminder", "Reminder"
        COMPLAINT = "complaint", "Complaint"
        COMPLIMENT = "compliment", "Compliment"
        PREFERENCE = "preference", "Preference"
        ISSUE = "issue", "Issue"
        FEEDBACK = "feedback", "Feedback"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INTERNAL)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    pinned = models.BooleanField(default=False)
    body = models.TextField()
    follow_up_on = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pinned", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "pinned", "created_at"], name="note_customer_idx"),
            models.Index(
                fields=["follow_up_on"],
                condition=Q(done=False, follow_up_on__isnull=False),
                name="note_follow_up_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class Tag(CrmModel):
    constraint_error_fields = {"duplicate_tag": "name"}

    name = models.CharField(max_length=50)
    slug = models.SlugField(max_length=60, unique=True)
    color = models.CharField(
        max_length=7,
        default="#6c757d",
        help_text="A hex colour such as #0d6efd.",
        validators=[
            RegexValidator(
                r"^#[0-9a-fA-F]{6}$", "Enter a colour as # and six hex digits, such as #0d6efd."
            )
        ],
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="tag_name_ci_unique",
                violation_error_code="duplicate_tag",
                violation_error_message="A tag with this name already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        self.name = self.name.strip()
        if not self.slug:
            self.slug = slugify(self.name)[:60]


class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.tag}"


class AnalyticsRun(models.Model):
    """One nightly scoring run: when, which model, what it fitted, how long each step took."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        # Refused because another run held the lock: nothing was written.
        SKIPPED = "skipped", "Skipped"

    class Model(models.TextChoices):
        MBGNBD = "mbgnbd", "MBG/NBD"
        BGNBD = "bgnbd", "BG/NBD"

    as_of = models.DateField()
    model_name = models.CharField(max_length=10, choices=Model.choices, default=Model.MBGNBD)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    customers_scored = models.PositiveIntegerField(default=0)
    customers_with_orders = models.PositiveIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True, help_text="Fitted model parameters.")
    log_likelihood = models.FloatField(null=True, blank=True)
    fallback_used = models.BooleanField(default=False)
    fallback_reason = models.CharField(max_length=255, blank=True)
    drift_count = models.PositiveIntegerField(
        default=0, help_text="Customers whose stored stats disagreed with their orders (fixed)."
    )
    segment_counts = models.JSONField(
        default=dict,
        blank=True,
        help_text="Customers per RFM segment as the run left them, prospects included.",
    )
    step_timings = models.JSONField(default=dict, blank=True, help_text="Seconds per step.")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    current_step = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of a running run."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"{self.get_model_name_display()} as of {self.as_of} ({self.get_status_display()})"

    # The order the steps run in; PostgreSQL's jsonb does not keep the order keys were written in.
    STEPS = ("aggregate", "reconcile", "rfm", "churn", "spend", "write", "upkeep")

    def steps_in_order(self) -> list[tuple[str, float]]:
        """step_timings as (step, seconds) in the order the steps run."""
        timings = self.step_timings or {}
        rank = {step: index for index, step in enumerate(self.STEPS)}
        return sorted(timings.items(), key=lambda item: rank.get(item[0], len(rank)))
