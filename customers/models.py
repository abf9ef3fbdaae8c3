import hashlib
import math
from datetime import date, timedelta
from decimal import Decimal

import pycountry
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length, Lower, Upper
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.text import slugify
from django_countries import countries
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

# The earliest date of birth the CRM takes (also a database constraint).
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# A customer's attributes are names and values (also a database constraint).
ATTRIBUTES_MESSAGE = (
    "Enter the attributes as a JSON object of names and values, "
    'such as {"size": "M", "allergies": "nuts"}.'
)
NUL_MESSAGE = "Null characters are not allowed."
# How far ahead of the server's clock an order may be placed (a till in another time zone).
ORDER_PLACED_AHEAD_MAX = timedelta(days=1)


def json_storage_error(value) -> str:
    """Why a JSON value cannot be stored (PostgreSQL's jsonb, SQLite's JSON text), or ""."""
    pending = [value]  # a loop, not recursion: a deeply nested value must not exhaust the stack
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "Numbers must be finite: NaN and Infinity cannot be stored."
        if isinstance(item, str) and "\x00" in item:
            return NUL_MESSAGE
        if isinstance(item, dict):
            pending.extend([*item.keys(), *item.values()])
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return ""


class JsonType(models.Func):
    """The JSON type of a value ("object", "array", "text", "integer", ...), for CHECK
    constraints: jsonb_typeof on PostgreSQL, json_type on SQLite. Migrations refer to it, so
    what it computes must not change."""

    function = "json_type"
    output_field = models.CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="jsonb_typeof", **extra_context)


class CrmModel(models.Model):
    """A model whose listed columns are written only by set-based UPDATEs, never by save().

    Customer stats and the order's delivery flag are kept by conditional UPDATEs with F()
    expressions. A full save() of an instance loaded earlier (an admin form left open, a stale
    object in a job) would write old values over them, so a save of an existing row leaves them out.
    Constraint violations on expressions (a Lower(email) unique index) are reported on the field
    named in ``constraint_error_fields`` instead of on the form as a whole.

    Validation (``full_clean``, which services, admin and staff forms run) first brings typed
    values to their stored form (``normalize_fields``: upper-case codes, a generated slug), then
    runs each field's own validators, then ``field_errors``: the rules that need today's date, a
    code list or a setting, kept out of the field definitions so migrations do not depend on them.
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

    def normalize_fields(self) -> None:
        """Bring typed values to the form they are stored in, before they are validated."""

    def is_loaded(self, attname: str) -> bool:
        """Whether the field's value is here, not deferred: what ``get_deferred_fields`` asks
        of each of the model's fields, asked of one (normalising runs for every imported row)."""
        return attname in self.__dict__

    def field_errors(self, skip: set[str]) -> dict[str, str]:
        """Messages for fields that break a rule beyond their own validators, by field name.
        Fields in ``skip`` (excluded by the caller, or already in error) are not checked."""
        return {}

    def clean_fields(self, exclude=None):
        exclude = set(exclude or ())
        self.clean_fields_of(
            [field for field in self._meta.concrete_fields if field.name not in exclude], exclude
        )

    def clean_fields_of(self, fields, skip=frozenset()) -> None:
        """``clean_fields`` for ``fields`` alone (Field objects): normalised, each cleaned by
        its own validators as Django's ``Model.clean_fields`` cleans it, checked for what
        PostgreSQL would refuse, then ``field_errors`` for every field not in ``skip`` (the
        fields not checked) nor in error. Raises ValidationError. An import checks only the
        columns its file has with this, a batch's list of fields made once (forty fields
        looked at to find the five a file has cost more than checking those five)."""
        self.normalize_fields()
        errors: dict = {}
        for field in fields:
            if field.generated:
                continue
            value = getattr(self, field.attname)
            if not (field.blank and value in field.empty_values):
                try:
                    value = field.clean(value, self)
                except ValidationError as error:
                    errors[field.name] = error.error_list
                    continue
                setattr(self, field.attname, value)
            if isinstance(field, models.JSONField):
                message = json_storage_error(value)
            else:  # PostgreSQL refuses NUL in text; a form refuses it, a service call may not
                message = NUL_MESSAGE if isinstance(value, str) and "\x00" in value else ""
            if message:
                errors.setdefault(field.name, []).append(ValidationError(message, code="refused"))
        for name, message in self.field_errors(skip | errors.keys() if errors else skip).items():
            # Not "invalid": a form would show its own message for that code instead of this one.
            errors.setdefault(name, []).append(ValidationError(message, code="refused"))
        if errors:
            raise ValidationError(errors)


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
        # Labelled with their own names, as staff know them ("Can't Lose Them", not "Cant Lose").
        CHAMPIONS = "Champions", "Champions"
        LOYAL = "Loyal Customers", "Loyal Customers"
        POTENTIAL_LOYALISTS = "Potential Loyalists", "Potential Loyalists"
        NEW = "New Customers", "New Customers"
        PROMISING = "Promising", "Promising"
        NEED_ATTENTION = "Need Attention", "Need Attention"
        ABOUT_TO_SLEEP = "About to Sleep", "About to Sleep"
        AT_RISK = "At Risk", "At Risk"
        CANT_LOSE = "Can't Lose Them", "Can't Lose Them"
        HIBERNATING = "Hibernating", "Hibernating"
        LOST = "Lost", "Lost"
        PROSPECT = "Prospect", "Prospect"

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
    constraint_error_fields = {
        "duplicate_email": "email",
        "date_of_birth_too_early": "date_of_birth",
        "attributes_not_object": "attributes",
    }

    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    # E.164; an extension typed with the number ("ext. 12", "x12") is kept in phone_extension.
    phone = PhoneNumberField(blank=True)  # indexed in Meta: a plain B-tree, no LIKE twin
    phone_extension = models.CharField(
        "extension",
        max_length=20,
        blank=True,
        default="",
        db_default="",
        help_text="Dialled after the number, such as 12 for “ext. 12”.",
    )
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
            models.CheckConstraint(
                condition=Q(date_of_birth__isnull=True) | Q(date_of_birth__gte=EARLIEST_BIRTH_DATE),
                name="customer_date_of_birth_from_1900",
                violation_error_code="date_of_birth_too_early",
                violation_error_message="The date of birth cannot be before 1900-01-01.",
            ),
            models.CheckConstraint(
                condition=Q(Exact(JsonType("attributes"), "object")),
                name="customer_attributes_object",
                violation_error_code="attributes_not_object",
                violation_error_message=ATTRIBUTES_MESSAGE,
            ),
        ]
        indexes = [
            models.Index(fields=["status", "customer_type"], name="customer_status_type_idx"),
            models.Index(fields=["source"], name="customer_source_idx"),
            # Found by the whole number (an import's key, a duplicate check); a search for part
            # of one reads the trigram index. db_index would add a second, LIKE-prefix index
            # that nothing reads and every insert keeps up.
            models.Index(fields=["phone"], name="customer_phone_idx"),
            # With id, the list's default order (last name, first name, id) is the index's own,
            # so skipping to a deep page reads only the index.
            models.Index(fields=["last_name", "first_name", "id"], name="customer_name_id_idx"),
            models.Index(fields=["total_spent"], name="customer_total_spent_idx"),
            models.Index(fields=["order_count"], name="customer_order_count_idx"),
            models.Index(fields=["last_order_at"], name="customer_last_order_idx"),
            # The dashboard counts the customers who first bought since the last sales rollup.
            models.Index(fields=["first_order_at"], name="customer_first_order_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"Customer {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def normalize_fields(self) -> None:
        if not self.is_loaded("phone"):
            return
        # phonenumbers parses "ext. 12" and "x12" but E.164 has no room for them: keep them apart.
        phone = self.phone
        if (
            isinstance(phone, PhoneNumber)
            and phone.extension
            and self.phone_extension in ("", phone.extension)
        ):
            self.phone_extension = phone.extension
            number = PhoneNumber()
            number.merge_from(phone)
            number.extension = None
            self.phone = number
        self.phone_extension = (self.phone_extension or "").strip()

    def field_errors(self, skip: set[str]) -> dict[str, str]:
        errors = {}
        born = self.date_of_birth
        if "date_of_birth" not in skip and born:
            if born < EARLIEST_BIRTH_DATE:
                errors["date_of_birth"] = "The date of birth cannot be before 1900-01-01."
            elif born > timezone.localdate():
                errors["date_of_birth"] = "The date of birth cannot be in the future."
        if "attributes" not in skip and not isinstance(self.attributes, dict):
            errors["attributes"] = ATTRIBUTES_MESSAGE
        extension = self.phone_extension
        if "phone_extension" not in skip and extension:
            if isinstance(self.phone, PhoneNumber) and self.phone.extension:
                errors["phone_extension"] = (
                    f"The phone number says extension {self.phone.extension} "
                    f"and this field says {extension}."
                )
            elif not (extension.isascii() and extension.isdigit()):
                errors["phone_extension"] = "Enter the extension as digits only."
            elif not self.phone:
                errors["phone_extension"] = "Enter the phone number of this extension."
        return errors


class CustomerScore(models.Model):
    """The scores that pages search and sort by, one row per customer the last nightly run
    scored from their purchases: a copy of four of the customer's analytics columns, rebuilt by
    the run in the transaction that writes those columns (customers.analytics.run), so the two
    always agree. Prospects and customers added since the run have no row.

    Indexed here, not on the customer table: an index on a column the run rewrites would turn
    the run's heap-only (HOT) rewrite of a million customer rows into ordinary updates of every
    index of that table (docs/benchmarks.md). No foreign key in the database, because the run
    swaps in a freshly built table; deleting a customer deletes its row through the ORM.
    """

    customer = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="score",
        db_constraint=False,
    )
    rfm_segment = models.CharField(max_length=30, choices=Customer.RfmSegment.choices)
    churn_risk = models.FloatField()
    predicted_clv = money_field()
    # churn_risk * predicted_clv to the cent: what the shop stands to lose over 12 months.
    value_at_stake = money_field()

    class Meta:
        indexes = [
            models.Index(fields=["rfm_segment", "customer"], name="customer_score_segment_idx"),
            models.Index(fields=["churn_risk", "customer"], name="customer_score_churn_idx"),
            models.Index(fields=["predicted_clv", "customer"], name="customer_score_clv_idx"),
            models.Index(fields=["value_at_stake", "customer"], name="customer_score_stake_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.rfm_segment}"


class Address(CrmModel):
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

    constraint_error_fields = {"country_not_code": "country"}

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SHIPPING)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = CountryField(
        help_text="ISO 3166 two-letter code, such as US.",
        error_messages={
            "invalid_choice": "“%(value)s” is not an ISO 3166 country code, such as US, GB or DE.",
            "blank": "Enter the country as an ISO 3166 code, such as US, GB or DE.",
        },
    )
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
            # Blank only for rows whose country could not be read when codes became required.
            models.CheckConstraint(
                condition=Q(country="")
                | (Q(country=Upper("country")) & Q(Exact(Length("country"), 2))),
                name="address_country_code",
                violation_error_code="country_not_code",
                violation_error_message="Enter the country as an ISO 3166 two-letter code.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["verification_status", "created_at"], name="address_verification_idx"
            ),
        ]

    def __str__(self) -> str:
        parts = [self.line1, self.city, self.postal_code, str(self.country)]
        return ", ".join(part for part in parts if part)

    def normalize_fields(self) -> None:
        if not self.is_loaded("country"):
            return
        # "us", "USA" and "840" all become "US"; anything else is left for validation to refuse.
        typed = str(self.country or "").strip()
        self.country = countries.alpha2(typed) or typed.upper()


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
    constraint_error_fields = {
        "negative_total": "total",
        "negative_discount_total": "discount_total",
        "negative_shipping_total": "shipping_total",
        "negative_tax_total": "tax_total",
        "currency_not_code": "currency",
    }
    AMOUNT_FIELDS = ("discount_total", "shipping_total", "tax_total")
    # The sum of the item lines written with the order, when the caller has them (order_create):
    # validation then checks the total against it. None: nothing to check against.
    items_subtotal: Decimal | None = None

    # A customer with orders is made inactive, never deleted with them.
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    number = models.CharField(max_length=50, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    placed_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    # total = items - discount_total + shipping_total + tax_total (checked when items are given).
    total = money_field(default=0)
    # Left blank, each is 0.
    discount_total = money_field(default=Decimal("0"), db_default=Decimal("0"), blank=True)
    shipping_total = money_field(default=Decimal("0"), db_default=Decimal("0"), blank=True)
    tax_total = money_field(default=Decimal("0"), db_default=Decimal("0"), blank=True)
    currency = models.CharField(
        max_length=3, default=settings.CRM_CURRENCY, help_text="ISO 4217 code, such as USD."
    )
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
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gte": 0}),
                    name=f"order_{name}_not_negative",
                    violation_error_code=f"negative_{name}",
                    violation_error_message=f"The {name.split('_')[0]} cannot be negative.",
                )
                for name in ("discount_total", "shipping_total", "tax_total")
            ),
            models.CheckConstraint(
                condition=Q(currency=Upper("currency")) & Q(Exact(Length("currency"), 3)),
                name="order_currency_code",
                violation_error_code="currency_not_code",
                violation_error_message="Enter the currency as an ISO 4217 code, such as USD.",
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

    def normalize_fields(self) -> None:
        if self.is_loaded("currency") and isinstance(self.currency, str):
            self.currency = self.currency.strip().upper()
        for name in self.AMOUNT_FIELDS:
            if self.is_loaded(name) and getattr(self, name) in (None, ""):
                setattr(self, name, Decimal("0"))

    def field_errors(self, skip: set[str]) -> dict[str, str]:
        errors = {}
        if "currency" not in skip and pycountry.currencies.get(alpha_3=self.currency) is None:
            errors["currency"] = (
                f"“{self.currency}” is not an ISO 4217 currency code, such as USD or EUR."
            )
        placed_at = self.placed_at
        if "placed_at" not in skip and placed_at:
            if timezone.is_naive(placed_at):
                placed_at = placed_at.replace(tzinfo=timezone.get_current_timezone())
            if placed_at > timezone.now() + ORDER_PLACED_AHEAD_MAX:
                errors["placed_at"] = "An order cannot be placed more than a day in the future."
        return errors

    def clean(self):
        super().clean()
        amounts = [getattr(self, name) for name in ("total", *self.AMOUNT_FIELDS)]
        numbers = all(isinstance(amount, Decimal) and amount.is_finite() for amount in amounts)
        if self.items_subtotal is not None and numbers:
            self.check_total_against_items(self.items_subtotal)

    def total_for_items(self, items_subtotal: Decimal) -> Decimal:
        """What the total must be for item lines adding up to ``items_subtotal``."""
        return items_subtotal - self.discount_total + self.shipping_total + self.tax_total

    def check_total_against_items(self, items_subtotal: Decimal) -> None:
        """Raise a ValidationError on ``total`` unless the total is the items less the discount
        plus shipping and tax. An order with no item lines is not checked against them."""
        expected = self.total_for_items(items_subtotal)
        if Decimal(self.total) != expected:
            raise ValidationError(
                {
                    "total": (
                        f"The total {self.total:.2f} does not match the items: "
                        f"{items_subtotal:.2f} - discount {self.discount_total:.2f} "
                        f"+ shipping {self.shipping_total:.2f} + tax {self.tax_total:.2f} "
                        f"= {expected:.2f}."
                    )
                },
                code="total_mismatch",
            )

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


class Note(CrmModel):
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

    def field_errors(self, skip: set[str]) -> dict[str, str]:
        limit = settings.CRM_NOTE_MAX_LENGTH
        if "body" not in skip and len(self.body) > limit:
            return {
                "body": (
                    f"A note can be at most {limit:,} characters long; "
                    f"this one has {len(self.body):,}."
                )
            }
        return {}


class Tag(CrmModel):
    constraint_error_fields = {"duplicate_tag": "name", "blank_slug": "slug"}

    name = models.CharField(max_length=50)
    slug = models.SlugField(
        max_length=60,
        unique=True,
        blank=True,
        allow_unicode=True,
        help_text="Made from the name when left blank.",
    )
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
            models.CheckConstraint(
                condition=~Q(slug=""),
                name="tag_slug_not_blank",
                violation_error_code="blank_slug",
                violation_error_message="The tag needs a slug.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def normalize_fields(self) -> None:
        if self.get_deferred_fields() & {"name", "slug"}:
            return
        self.name = (self.name or "").strip()
        if not self.slug and self.name:
            self.slug = self.slug_for(self.name, exclude_pk=self.pk)

    @classmethod
    def slug_for(cls, name: str, *, exclude_pk: int | None = None) -> str:
        """A free slug for a tag name: its words in any script ("café-crème"). A name with no
        letter or digit ("!!!", "😀😀") gets "tag-" and a short digest of the name, and a slug
        another tag holds gets the digest appended, so every name a person can type is taken."""
        digest = hashlib.blake2s(name.casefold().encode(), digest_size=4).hexdigest()
        base = slugify(name, allow_unicode=True)[:50]
        candidates = [base, f"{base}-{digest}"] if base else [f"tag-{digest}"]
        taken = set(
            cls.objects.filter(slug__in=candidates)
            .exclude(pk=exclude_pk)
            .values_list("slug", flat=True)
        )
        free = [slug for slug in candidates if slug not in taken]
        return free[0] if free else f"{candidates[-1]}-{cls.objects.count() + 1}"


class CustomerTag(models.Model):
    # Found by customer through customer_tag_unique, whose index starts with the customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="customer_tags", db_index=False
    )
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


class TagRemoval(models.Model):
    """One row per tag taken off a customer through customer_tag_remove: who removed it and when,
    and when and by whom it had been added (that CustomerTag row is gone), for the timeline."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tag_removals")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField()
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    removed_at = models.DateTimeField(auto_now_add=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["customer", "removed_at"], name="tag_removal_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.tag} (removed)"


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
    customer_totals = models.JSONField(
        default=dict,
        blank=True,
        help_text="The dashboard's customer figures as the run left them "
        "(customers.dashboard.customer_totals).",
    )
    step_timings = models.JSONField(default=dict, blank=True, help_text="Seconds per step.")
    backtest = models.JSONField(
        default=dict,
        blank=True,
        help_text="The model fitted again as of a calibration end and its predictions of the "
        "days since compared with what happened (customers.analytics.backtest).",
    )
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
    STEPS = ("aggregate", "reconcile", "rfm", "churn", "spend", "backtest", "write", "upkeep")

    def steps_in_order(self) -> list[tuple[str, float]]:
        """step_timings as (step, seconds) in the order the steps run."""
        timings = self.step_timings or {}
        rank = {step: index for index, step in enumerate(self.STEPS)}
        return sorted(timings.items(), key=lambda item: rank.get(item[0], len(rank)))


class SalesDay(models.Model):
    """One day of the shop's sales, by the day orders were placed (in the shop's time zone):
    revenue and number of delivered orders, and customers whose first delivered order was placed
    that day. Rebuilt every night (customers.sales) for the days before ``rebuilt_on``; the
    dashboard reads them for those days and counts the days since from the orders, live."""

    day = models.DateField(primary_key=True)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    orders = models.PositiveIntegerField(default=0)
    new_customers = models.PositiveIntegerField(default=0)
    rebuilt_on = models.DateField(help_text="The rebuild covered the days before this one.")
    rebuilt_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.orders} orders, {self.revenue}"
