from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Address, Customer, Note, Order, OrderItem, Tag


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("password")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = factory.Sequence(lambda n: f"+1415555{n % 10000:04d}")
    accepts_email = True


class OrderFactory(factory.django.DjangoModelFactory):
    """An order saved through the model, so the delivery receiver runs as it does for admin."""

    class Meta:
        model = Order

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"T{n:06d}")
    placed_at = factory.LazyFunction(timezone.now)
    total = Decimal("50.00")
    item_count = 1


class OrderItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    product_name = factory.Faker("word")
    category = "Apparel"
    quantity = 1
    unit_price = Decimal("10.00")
    line_total = factory.LazyAttribute(lambda item: item.unit_price * item.quantity)


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    postal_code = factory.Faker("postcode")
    country = "US"


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    customer = factory.SubFactory(CustomerFactory)
    body = factory.Faker("sentence")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tag {n}")
    slug = factory.Sequence(lambda n: f"tag-{n}")


def customers_with_orders(count: int = 3) -> list[Customer]:
    """A few customers with delivered orders spread over the last months (far below the 500 the
    models need, so the run uses the fallback heuristic)."""
    now = timezone.now()
    customers = []
    for index in range(count):
        customer = CustomerFactory()
        for months_ago in range(index + 1):
            OrderFactory(
                customer=customer,
                status="delivered",
                placed_at=now - timedelta(days=30 * months_ago + 3 * index + 1),
            )
        customers.append(customer)
    return customers


def silent_run(*, minutes: int = 20, **fields):
    """A nightly run whose worker was killed: still running on record (at 83% unless told
    otherwise), with no sign of life for ``minutes``."""
    from customers.models import AnalyticsRun

    long_ago = timezone.now() - timedelta(minutes=minutes)
    values = {
        "as_of": timezone.localdate(),
        "status": AnalyticsRun.Status.RUNNING,
        "progress": 83,
        "started_at": long_ago,
        "heartbeat_at": long_ago,
        **fields,
    }
    return AnalyticsRun.objects.create(**values)
