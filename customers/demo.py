"""Demo data that looks like a real shop: a few countries, skewed buying, every order status.

Rows go in with bulk_create for speed; the stats are then set by the same set-based recompute that
every bulk path uses, so they agree with the orders exactly.
"""

import random
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import phonenumbers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone
from faker import Faker

from core.roles import LOYALTY_MANAGERS, MANAGERS, MARKETING, SUPPORT
from customers.models import Address, Customer, CustomerTag, Note, Order, OrderItem, Tag
from customers.services import orders_bulk_sync

DEMO_PREFIX = "DEMO-"

# Faker locale, ISO country and its share of the customer base.
COUNTRIES = [
    ("en_US", "US", 50),
    ("en_GB", "GB", 20),
    ("de_DE", "DE", 10),
    ("fr_FR", "FR", 10),
    ("es_ES", "ES", 10),
]

CATALOG = [
    ("APP-TEE", "Organic cotton T-shirt", "Apparel", "24.00"),
    ("APP-JEANS", "Slim jeans", "Apparel", "79.00"),
    ("APP-JACKET", "Rain jacket", "Apparel", "149.00"),
    ("APP-SOCKS", "Wool socks (3 pairs)", "Apparel", "18.50"),
    ("SHO-SNEAK", "Everyday sneakers", "Shoes", "95.00"),
    ("SHO-BOOT", "Leather boots", "Shoes", "189.00"),
    ("BEA-SERUM", "Vitamin C serum", "Beauty", "38.00"),
    ("BEA-CREAM", "Night cream", "Beauty", "45.00"),
    ("BEA-SHAMP", "Argan shampoo", "Beauty", "16.90"),
    ("BEA-CUT", "Haircut and styling", "Salon services", "55.00"),
    ("BEA-COLOR", "Colour treatment", "Salon services", "120.00"),
    ("HOM-CANDLE", "Scented candle", "Home", "22.00"),
    ("HOM-THROW", "Linen throw", "Home", "89.00"),
    ("HOM-MUG", "Stoneware mug", "Home", "14.00"),
    ("ACC-BAG", "Canvas tote bag", "Accessories", "35.00"),
    ("ACC-WALLET", "Leather wallet", "Accessories", "59.00"),
    ("ACC-SUNGL", "Sunglasses", "Accessories", "129.00"),
    ("GRO-COFFEE", "Single-origin coffee 500 g", "Grocery", "17.50"),
    ("GRO-TEA", "Loose-leaf tea tin", "Grocery", "12.00"),
    ("GRO-CHOC", "Dark chocolate box", "Grocery", "9.90"),
    ("GFT-CARD", "Gift card", "Gifts", "50.00"),
]

TAGS = [
    ("VIP", "#d63384", "Top spenders the manager knows by name."),
    ("Newsletter", "#0d6efd", "Signed up at the counter or online."),
    ("Birthday club", "#fd7e14", "Gets a birthday treat."),
    ("Allergy: nuts", "#dc3545", "Check ingredients before recommending food or cosmetics."),
    ("Wholesale", "#6f42c1", "Buys for a business."),
    ("Influencer", "#20c997", "Posts about us."),
    ("Staff pick", "#198754", "A customer the staff like to look after."),
    ("Complained", "#6c757d", "Had a complaint in the last year."),
]

NOTE_BODIES = [
    ("preference", "Prefers appointments with Anna on Saturday mornings."),
    ("follow_up", "Call back about the jacket in size M when it is restocked."),
    ("complaint", "Parcel arrived damaged; replacement sent."),
    ("compliment", "Loved the gift wrapping, told her friends."),
    ("reminder", "Remind about the loyalty voucher before it expires."),
    ("internal", "Paid by bank transfer twice; ask for card next time."),
    ("feedback", "Would like more vegan products."),
    ("issue", "Email bounced once; confirm the address at the next visit."),
]

# One member of staff per staff group (username, first name, last name, group), who write the
# demo notes. They cannot log in until an administrator sets them a password in the admin.
DEMO_STAFF = [
    ("anna", "Anna", "Berger", SUPPORT),
    ("malik", "Malik", "Osei", MARKETING),
    ("sofia", "Sofia", "Lindqvist", LOYALTY_MANAGERS),
    ("tom", "Tom", "Hayes", MANAGERS),
]
# Who writes which kind of note: the group whose work it is.
NOTE_WRITERS = {
    "preference": SUPPORT,
    "follow_up": SUPPORT,
    "complaint": SUPPORT,
    "issue": SUPPORT,
    "compliment": MARKETING,
    "feedback": MARKETING,
    "reminder": LOYALTY_MANAGERS,
    "internal": MANAGERS,
}


@dataclass
class DemoSize:
    customers: int = 2000
    orders: int = 15000
    days: int = 730


def ascii_slug(text: str) -> str:
    normalized = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in normalized.lower() if ch.isalnum())


def random_phone(rng: random.Random, region: str) -> str:
    """A valid mobile number of the region, in E.164."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    for _ in range(50):
        digits = national[:3] + "".join(rng.choice("0123456789") for _ in national[3:])
        candidate = phonenumbers.parse(digits, region)
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def demo_present() -> bool:
    return Customer.objects.filter(external_id__startswith=DEMO_PREFIX).exists()


def demo_staff_create() -> dict[str, AbstractUser]:
    """The demo's staff, one per staff group, as {group name: user}. A missing account is
    made with an unusable password and put in its group; one that exists is used as it is."""
    User = get_user_model()
    staff = {}
    for username, first_name, last_name, group_name in DEMO_STAFF:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@example.com",
                "is_staff": True,
            },
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(Group.objects.get_or_create(name=group_name)[0])
        staff[group_name] = user
    return staff


def _orders_per_customer(rng: random.Random, size: DemoSize) -> list[int]:
    """Many one-time buyers, a long tail of heavy ones, some prospects with no order at all."""
    counts = [0] * size.customers
    buyers = list(range(size.customers))
    rng.shuffle(buyers)
    buyers = buyers[: max(1, int(size.customers * 0.9))][: size.orders]
    for index in buyers:
        counts[index] = 1
    repeaters = buyers[int(len(buyers) * 0.4) :]
    remaining = size.orders - len(buyers)
    if repeaters and remaining > 0:
        weights = [min(rng.paretovariate(1.3), 25.0) for _ in repeaters]
        for index in rng.choices(repeaters, weights=weights, k=remaining):
            counts[index] += 1
    return counts


def _order_status(rng: random.Random, age_days: float) -> str:
    if age_days < 3:
        return rng.choice(["pending", "paid", "processing", "shipped", "delivered"])
    if age_days < 10:
        return rng.choices(["shipped", "delivered", "cancelled"], weights=[3, 6, 1])[0]
    return rng.choices(["delivered", "returned", "refunded", "cancelled"], weights=[88, 4, 3, 5])[0]


def _bulk_create_backdated(model, objects: list, field: str) -> None:
    """bulk_create, then put back the dates that auto_now_add overwrote with now."""
    dates = [getattr(obj, field) for obj in objects]
    model.objects.bulk_create(objects, batch_size=1000)
    for obj, value in zip(objects, dates, strict=True):
        setattr(obj, field, value)
    model.objects.bulk_update(objects, [field], batch_size=1000)


@transaction.atomic
def demo_data_create(*, size: DemoSize, seed: int = 42) -> dict[str, int]:
    """Create the demo shop. Returns how many rows of each kind were made."""
    rng = random.Random(seed)
    Faker.seed(seed)
    fakers = {locale: Faker(locale) for locale, _, _ in COUNTRIES}
    now = timezone.now()
    start = now - timedelta(days=size.days)

    tags = [
        Tag.objects.get_or_create(
            slug=ascii_slug(name) or name,
            defaults={"name": name, "color": color, "description": text},
        )[0]
        for name, color, text in TAGS
    ]

    counts = _orders_per_customer(rng, size)
    customers, first_orders = [], []
    for index in range(size.customers):
        locale, country, _ = rng.choices(COUNTRIES, weights=[c[2] for c in COUNTRIES])[0]
        fake = fakers[locale]
        first, last = fake.first_name(), fake.last_name()
        first_order = (
            start + timedelta(seconds=rng.uniform(0, size.days * 86400)) if counts[index] else None
        )
        created = (first_order or start + timedelta(days=rng.uniform(0, size.days))) - timedelta(
            days=rng.uniform(0, 30)
        )
        heavy = counts[index] >= 15
        customers.append(
            Customer(
                first_name=first,
                last_name=last,
                email=f"{ascii_slug(first)}.{ascii_slug(last)}{index}@{fake.free_email_domain()}"
                if rng.random() < 0.93
                else "",
                phone=random_phone(rng, country) if rng.random() < 0.8 else "",
                company=fake.company() if rng.random() < 0.1 else "",
                date_of_birth=fake.date_of_birth(minimum_age=18, maximum_age=80)
                if rng.random() < 0.6
                else None,
                gender=rng.choice(
                    ["female", "female", "male", "male", "non_binary", "undisclosed"]
                ),
                customer_type=(
                    "vip"
                    if heavy and rng.random() < 0.5
                    else rng.choices(
                        ["retail", "walk_in", "regular", "wholesale", "distributor"],
                        weights=[60, 15, 20, 4, 1],
                    )[0]
                ),
                source=rng.choices(
                    ["direct", "online", "marketplace", "referral", "walk_in"],
                    weights=[20, 40, 10, 10, 20],
                )[0],
                status=rng.choices(["active", "inactive", "suspended"], weights=[94, 5, 1])[0],
                external_id=f"{DEMO_PREFIX}{index + 1:06d}",
                accepts_email=rng.random() < 0.7,
                accepts_sms=rng.random() < 0.4,
                accepts_phone=rng.random() < 0.3,
                do_not_contact=rng.random() < 0.02,
                can_receive_offers=rng.random() < 0.9,
                best_contact_time=rng.choice(["any", "morning", "afternoon", "evening"]),
                preferred_channel=rng.choice(["", "email", "sms", "phone"]),
                preferred_categories=rng.sample(
                    sorted({item[2] for item in CATALOG}), k=rng.randint(0, 2)
                ),
                attributes=rng.choice(
                    [{}, {}, {"size": rng.choice(["S", "M", "L"])}, {"preferred_employee": "Anna"}]
                ),
                created_at=created,
            )
        )
        first_orders.append(first_order)
    _bulk_create_backdated(Customer, customers, "created_at")

    orders, order_lines = [], []
    number = Order.objects.count()
    for customer, order_total, first_order in zip(customers, counts, first_orders, strict=True):
        if not order_total:
            continue
        # Half the repeat buyers have stopped coming by now: their orders end at a random date.
        active_until = now
        if order_total > 1 and rng.random() < 0.5:
            active_until = first_order + (now - first_order) * rng.uniform(0.05, 0.9)
        span = (active_until - first_order).total_seconds()
        moments = sorted(
            [first_order]
            + [
                first_order + timedelta(seconds=rng.uniform(0, span))
                for _ in range(order_total - 1)
            ]
        )
        for placed_at in moments:
            number += 1
            status = _order_status(rng, (now - placed_at).total_seconds() / 86400)
            lines = []
            for sku, name, category, price in rng.sample(
                CATALOG, k=rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
            ):
                quantity = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
                unit_price = Decimal(price)
                lines.append(
                    OrderItem(
                        sku=sku,
                        product_name=name,
                        category=category,
                        quantity=quantity,
                        unit_price=unit_price,
                        line_total=unit_price * quantity,
                    )
                )
            delivered_at = None
            if status in ("delivered", "returned", "refunded"):
                delivered_at = min(now, placed_at + timedelta(days=rng.uniform(0, 5)))
            orders.append(
                Order(
                    customer=customer,
                    number=f"D{number:07d}",
                    status=status,
                    placed_at=placed_at,
                    delivered_at=delivered_at,
                    total=sum(line.line_total for line in lines),
                    item_count=sum(line.quantity for line in lines),
                    payment_method=rng.choices(
                        ["card", "cash", "wallet", "bank_transfer", "gift_card"],
                        weights=[55, 20, 15, 5, 5],
                    )[0],
                    channel=rng.choices(
                        ["in_store", "online", "phone", "marketplace"], weights=[45, 40, 5, 10]
                    )[0],
                )
            )
            order_lines.append(lines)
    Order.objects.bulk_create(orders, batch_size=1000)
    items = []
    for order, lines in zip(orders, order_lines, strict=True):
        for line in lines:
            line.order = order
            items.append(line)
    OrderItem.objects.bulk_create(items, batch_size=2000)

    addresses = []
    for customer, country in zip(
        customers,
        (rng.choices(COUNTRIES, weights=[c[2] for c in COUNTRIES])[0] for _ in customers),
        strict=False,
    ):
        locale, code, _ = country
        fake = fakers[locale]
        for position, kind in enumerate(
            rng.sample(
                ["shipping", "billing", "home", "office"],
                k=rng.choices([0, 1, 2], weights=[10, 65, 25])[0],
            )
        ):
            created_at = min(now, customer.created_at + timedelta(days=rng.uniform(0, 5)))
            # Staff work the queue: old addresses are mostly decided, recent ones still wait.
            recent = now - created_at < timedelta(days=45)
            status = rng.choices(
                ["verified", "pending", "rejected"], weights=[30, 65, 5] if recent else [90, 3, 7]
            )[0]
            decided_at = None
            if status != "pending":
                decided_at = min(now, created_at + timedelta(days=rng.uniform(0, 10)))
            addresses.append(
                Address(
                    customer=customer,
                    kind=kind,
                    line1=fake.street_address(),
                    city=fake.city(),
                    postal_code=fake.postcode(),
                    country=code,
                    is_default=position == 0,
                    verification_status=status,
                    verified_at=decided_at,
                    verification_notes="Checked against the postal register." if decided_at else "",
                    created_at=created_at,
                )
            )
    _bulk_create_backdated(Address, addresses, "created_at")

    staff = demo_staff_create()
    notes = []
    for customer in customers:
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 3)):
                kind, body = rng.choice(NOTE_BODIES)
                follow_up = kind in ("follow_up", "reminder")
                notes.append(
                    Note(
                        customer=customer,
                        author=staff[NOTE_WRITERS[kind]],
                        kind=kind,
                        body=body,
                        priority=rng.choices(
                            ["low", "normal", "high", "urgent"], weights=[20, 60, 15, 5]
                        )[0],
                        pinned=rng.random() < 0.15,
                        follow_up_on=(now + timedelta(days=rng.randint(-20, 20))).date()
                        if follow_up
                        else None,
                        done=follow_up and rng.random() < 0.3,
                        created_at=max(
                            customer.created_at, now - timedelta(days=rng.uniform(0, 60))
                        ),
                    )
                )
    _bulk_create_backdated(Note, notes, "created_at")

    customer_tags = []
    for customer in customers:
        if rng.random() < 0.3:
            for tag in rng.sample(tags, k=rng.randint(1, 2)):
                added_at = customer.created_at + timedelta(days=rng.uniform(0, 90))
                customer_tags.append(
                    CustomerTag(customer=customer, tag=tag, added_at=min(added_at, now))
                )
    _bulk_create_backdated(CustomerTag, customer_tags, "added_at")

    orders_bulk_sync(customer_ids=[customer.pk for customer in customers])
    return {
        "customers": len(customers),
        "orders": len(orders),
        "items": len(items),
        "addresses": len(addresses),
        "notes": len(notes),
        "tags": len(customer_tags),
        "staff": len(staff),
    }
