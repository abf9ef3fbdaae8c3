"""The models' own validation: what full_clean() refuses, naming the field, what it stores
normalised, and the database constraints behind it for writes that skip validation."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from customers.models import Address, Customer, Note, Order, OrderItem, Tag
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


def errors_of(instance, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        instance.full_clean(**kwargs)
    return raised.value.message_dict


def refused_by_database(queryset, **changes) -> bool:
    try:
        with transaction.atomic():
            queryset.update(**changes)
    except (IntegrityError, DataError):  # a CHECK constraint, or a value too long for the column
        return True
    return False


# Customer: date of birth


@pytest.mark.parametrize(
    ("born", "message"),
    [
        (date(1899, 12, 31), "The date of birth cannot be before 1900-01-01."),
        (date(1, 1, 1), "The date of birth cannot be before 1900-01-01."),
        ("tomorrow", "The date of birth cannot be in the future."),
        (date(9999, 12, 31), "The date of birth cannot be in the future."),
    ],
)
def test_date_of_birth_in_the_future_or_before_1900_is_refused(born, message):
    if born == "tomorrow":
        born = timezone.localdate() + timedelta(days=1)
    customer = Customer(first_name="Ada", date_of_birth=born)

    assert errors_of(customer) == {"date_of_birth": [message]}


@pytest.mark.parametrize("born", [date(1900, 1, 1), "today"])
def test_date_of_birth_from_1900_to_today_is_accepted(born):
    if born == "today":
        born = timezone.localdate()
    customer = Customer(first_name="Ada", date_of_birth=born)

    customer.full_clean()


def test_date_of_birth_before_1900_is_refused_by_the_database():
    customer = CustomerFactory()

    assert refused_by_database(
        Customer.objects.filter(pk=customer.pk), date_of_birth=date(1899, 12, 31)
    )


# Customer: attributes


@pytest.mark.parametrize("attributes", [["size", "M"], "size M", 42, 1.5, True])
def test_attributes_that_are_not_a_json_object_are_refused(attributes):
    customer = Customer(first_name="Ada", attributes=attributes)

    assert errors_of(customer) == {
        "attributes": [
            "Enter the attributes as a JSON object of names and values, "
            'such as {"size": "M", "allergies": "nuts"}.'
        ]
    }


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"size": float("nan")}, "Numbers must be finite: NaN and Infinity cannot be stored."),
        ({"size": [1, float("inf")]}, "Numbers must be finite: NaN and Infinity cannot be stored."),
        ({"size": "M\x00"}, "Null characters are not allowed."),
        ({"\x00": "M"}, "Null characters are not allowed."),
    ],
)
def test_attributes_the_database_cannot_store_are_refused(attributes, message):
    customer = Customer(first_name="Ada", attributes=attributes)

    assert errors_of(customer) == {"attributes": [message]}


@pytest.mark.parametrize(
    ("instance", "field"),
    [
        (lambda: Customer(first_name="Ada\x00"), "first_name"),
        (lambda: Note(customer=CustomerFactory(), body="call\x00back"), "body"),
        (
            lambda: Order(
                customer=CustomerFactory(), number="X-1", placed_at=timezone.now(), notes="\x00"
            ),
            "notes",
        ),
    ],
)
def test_text_with_a_nul_character_is_refused_at_its_field(instance, field):
    assert errors_of(instance()) == {field: ["Null characters are not allowed."]}


def test_attributes_as_an_object_are_accepted():
    Customer(first_name="Ada", attributes={"size": "M", "stylist": {"name": "Anna"}}).full_clean()


@pytest.mark.parametrize("attributes", [["size"], "size", 42])
def test_attributes_that_are_not_an_object_are_refused_by_the_database(attributes):
    customer = CustomerFactory()

    assert refused_by_database(Customer.objects.filter(pk=customer.pk), attributes=attributes)


# Customer: phone extension


@pytest.mark.parametrize(
    "typed",
    ["+1 415 555 0134 ext. 12", "+1 (415) 555-0134 x12", "(415) 555-0134 extension 12"],
)
def test_a_phone_extension_is_kept_beside_the_number(typed):
    customer = Customer(first_name="Ada", phone=typed)

    customer.full_clean()
    customer.save()

    customer.refresh_from_db()
    assert str(customer.phone) == "+14155550134"
    assert customer.phone_extension == "12"


def test_a_phone_without_extension_keeps_the_extension_field_as_given():
    customer = Customer(first_name="Ada", phone="+1 415 555 0134", phone_extension="7")

    customer.full_clean()

    assert (str(customer.phone), customer.phone_extension) == ("+14155550134", "7")


def test_two_different_extensions_are_refused_at_the_extension():
    customer = Customer(first_name="Ada", phone="+1 415 555 0134 ext. 12", phone_extension="7")

    assert errors_of(customer) == {
        "phone_extension": ["The phone number says extension 12 and this field says 7."]
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone_extension": "12a"}, "Enter the extension as digits only."),
        ({"phone": "", "phone_extension": "12"}, "Enter the phone number of this extension."),
    ],
)
def test_an_extension_that_cannot_be_dialled_is_refused(fields, message):
    customer = Customer(first_name="Ada", **{"phone": "+14155550134", **fields})

    assert errors_of(customer) == {"phone_extension": [message]}


# Order: placed_at, amounts, currency


def test_an_order_placed_more_than_a_day_ahead_is_refused():
    order = Order(
        customer=CustomerFactory(),
        number="F-1",
        placed_at=timezone.now() + timedelta(days=1, minutes=5),
    )

    assert errors_of(order) == {
        "placed_at": ["An order cannot be placed more than a day in the future."]
    }


def test_a_naive_date_time_far_ahead_is_refused_too():
    """A date-time without a zone (a shell, an import) is read in the shop's time zone."""
    from datetime import datetime

    order = Order(customer=CustomerFactory(), number="F-3", placed_at=datetime(9999, 12, 31))

    assert list(errors_of(order)) == ["placed_at"]


def test_an_order_placed_up_to_a_day_ahead_is_accepted():
    order = Order(
        customer=CustomerFactory(), number="F-2", placed_at=timezone.now() + timedelta(hours=23)
    )

    order.full_clean()


@pytest.mark.parametrize(("typed", "stored"), [("usd", "USD"), (" eur ", "EUR"), ("Jpy", "JPY")])
def test_currency_is_stored_upper_case(typed, stored):
    order = Order(
        customer=CustomerFactory(), number="C-1", placed_at=timezone.now(), currency=typed
    )

    order.full_clean()

    assert order.currency == stored


@pytest.mark.parametrize("typed", ["XYZ1", "ABC", "US", "", "€", "usd\x00"])
def test_currency_that_is_not_an_iso_4217_code_is_refused(typed):
    order = Order(
        customer=CustomerFactory(), number="C-2", placed_at=timezone.now(), currency=typed
    )

    assert list(errors_of(order)) == ["currency"]


def test_unknown_currency_message_says_what_is_expected():
    order = Order(
        customer=CustomerFactory(), number="C-3", placed_at=timezone.now(), currency="ABC"
    )

    assert errors_of(order) == {
        "currency": ["“ABC” is not an ISO 4217 currency code, such as USD or EUR."]
    }


@pytest.mark.parametrize("currency", ["usd", "US", "USDX"])
def test_a_currency_that_is_not_three_capitals_is_refused_by_the_database(currency):
    order = OrderFactory()

    assert refused_by_database(Order.objects.filter(pk=order.pk), currency=currency)


@pytest.mark.parametrize("field", ["discount_total", "shipping_total", "tax_total"])
def test_negative_discount_shipping_and_tax_are_refused_at_their_field(field):
    order = Order(
        customer=CustomerFactory(), number="N-1", placed_at=timezone.now(), **{field: Decimal("-1")}
    )

    assert list(errors_of(order)) == [field]
    assert refused_by_database(Order.objects.filter(pk=OrderFactory().pk), **{field: -1})


def test_a_blank_discount_shipping_or_tax_is_zero():
    order = Order(
        customer=CustomerFactory(),
        number="Z-1",
        placed_at=timezone.now(),
        discount_total=None,
        shipping_total="",
    )

    order.full_clean()

    assert (order.discount_total, order.shipping_total, order.tax_total) == (0, 0, 0)


def test_total_is_items_less_discount_plus_shipping_and_tax():
    order = Order(
        total=Decimal("97.00"),
        discount_total=Decimal("10.00"),
        shipping_total=Decimal("4.95"),
        tax_total=Decimal("12.05"),
    )

    assert order.total_for_items(Decimal("90.00")) == Decimal("97.00")
    order.check_total_against_items(Decimal("90.00"))
    with pytest.raises(ValidationError) as raised:
        order.check_total_against_items(Decimal("80.00"))
    assert raised.value.message_dict == {
        "total": [
            "The total 97.00 does not match the items: 80.00 - discount 10.00 + shipping 4.95 "
            "+ tax 12.05 = 87.00."
        ]
    }


# Address: country


@pytest.mark.parametrize(
    ("typed", "stored"), [("us", "US"), ("Gb", "GB"), (" de ", "DE"), ("USA", "US"), ("fra", "FR")]
)
def test_country_is_stored_as_an_upper_case_iso_code(typed, stored):
    """Two-letter codes in any case, and ISO 3166's three-letter codes, become the two-letter
    code."""
    address = Address(customer=CustomerFactory(), line1="1 Main St", city="X", country=typed)

    address.full_clean()

    assert address.country == stored


@pytest.mark.parametrize("typed", ["XX", "UK", "XYZ", "United States", "1", ""])
def test_country_that_is_not_an_iso_3166_code_is_refused(typed):
    address = Address(customer=CustomerFactory(), line1="1 Main St", city="X", country=typed)

    assert list(errors_of(address)) == ["country"]


def test_unknown_country_message_says_what_is_expected():
    address = Address(customer=CustomerFactory(), line1="1 Main St", city="X", country="XX")

    assert errors_of(address) == {
        "country": ["“XX” is not an ISO 3166 country code, such as US, GB or DE."]
    }


def test_a_missing_country_message_names_the_country():
    address = Address(customer=CustomerFactory(), line1="1 Main St", city="X", country="")

    assert errors_of(address) == {
        "country": ["Enter the country as an ISO 3166 code, such as US, GB or DE."]
    }


def test_a_lower_case_country_is_refused_by_the_database():
    address = AddressFactory()

    assert refused_by_database(Address.objects.filter(pk=address.pk), country="us")


# Note: body length


def test_a_note_longer_than_the_limit_is_refused_saying_the_limit(settings):
    settings.CRM_NOTE_MAX_LENGTH = 10_000
    note = Note(customer=CustomerFactory(), body="x" * 1_000_000)

    assert errors_of(note) == {
        "body": ["A note can be at most 10,000 characters long; this one has 1,000,000."]
    }


def test_the_note_limit_comes_from_settings(settings):
    settings.CRM_NOTE_MAX_LENGTH = 20
    customer = CustomerFactory()

    Note(customer=customer, body="x" * 20).full_clean()
    assert list(errors_of(Note(customer=customer, body="x" * 21))) == ["body"]


def test_the_default_note_limit_is_ten_thousand_characters():
    from django.conf import settings

    assert settings.CRM_NOTE_MAX_LENGTH == 10_000


# Tag: names without letters or digits


@pytest.mark.parametrize("name", ["!!!", "😀😀", "???", "★"])
def test_a_tag_named_without_letters_or_digits_gets_a_generated_slug(name):
    tag = Tag(name=name)

    tag.full_clean()
    tag.save()

    assert tag.slug.startswith("tag-")
    assert Tag.objects.get(slug=tag.slug).name == name


@pytest.mark.parametrize(
    ("name", "slug"), [("Café crème", "café-crème"), ("Größe L", "größe-l"), ("VIP", "vip")]
)
def test_a_tag_slug_keeps_letters_of_any_script(name, slug):
    tag = Tag(name=name)

    tag.full_clean()

    assert tag.slug == slug


def test_two_names_with_the_same_slug_get_different_slugs():
    TagFactory(name="VIP", slug="vip")
    tag = Tag(name="VIP!")

    tag.full_clean()
    tag.save()

    assert tag.slug.startswith("vip-")
    assert Tag.objects.count() == 2


def test_two_tags_without_letters_get_different_slugs():
    first = Tag(name="!!!")
    first.full_clean()
    first.save()
    second = Tag(name="???")

    second.full_clean()
    second.save()

    assert first.slug != second.slug


def test_an_empty_tag_slug_is_refused_by_the_database():
    tag = TagFactory()

    assert refused_by_database(Tag.objects.filter(pk=tag.pk), slug="")


# In admin


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "password")
    client.force_login(user)
    return client


def admin_errors(response) -> dict:
    errors = dict(response.context["adminform"].form.errors)
    for formset in response.context["inline_admin_formsets"]:
        if formset.formset.non_form_errors():
            errors["__inline__"] = list(formset.formset.non_form_errors())
    return errors


def test_admin_refuses_a_future_date_of_birth_at_the_field(admin_client):
    tomorrow = timezone.localdate() + timedelta(days=1)

    response = admin_client.post(
        reverse("admin:customers_customer_add"),
        {
            "first_name": "Ada",
            "date_of_birth": tomorrow.isoformat(),
            "customer_type": "retail",
            "source": "direct",
            "status": "active",
            "best_contact_time": "any",
            "attributes": "[1, 2]",
            "preferred_categories": "9" * 5000,
            **{
                f"{prefix}-{name}": value
                for prefix in ("addresses", "customer_tags", "notes")
                for name, value in (
                    ("TOTAL_FORMS", "0"),
                    ("INITIAL_FORMS", "0"),
                    ("MIN_NUM_FORMS", "0"),
                    ("MAX_NUM_FORMS", "1000"),
                )
            },
        },
    )

    assert response.status_code == 200
    errors = admin_errors(response)
    assert errors["date_of_birth"] == ["The date of birth cannot be in the future."]
    assert "attributes" in errors
    assert errors["preferred_categories"] == ["Enter a valid JSON."]
    assert not Customer.objects.exists()


def order_admin_data(customer, **fields) -> dict:
    data = {
        "customer": customer.pk,
        "number": "ADM-1",
        "status": "pending",
        "placed_at_0": timezone.localdate().isoformat(),
        "placed_at_1": "10:00:00",
        "total": "30.00",
        "discount_total": "0",
        "shipping_total": "0",
        "tax_total": "0",
        "currency": "USD",
        "item_count": "1",
        "items-TOTAL_FORMS": "1",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
        "items-0-product_name": "Mug",
        "items-0-quantity": "2",
        "items-0-unit_price": "10.00",
        "items-0-line_total": "20.00",
        "status_changes-TOTAL_FORMS": "0",
        "status_changes-INITIAL_FORMS": "0",
        "status_changes-MIN_NUM_FORMS": "0",
        "status_changes-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    return data


def test_admin_refuses_an_order_whose_total_disagrees_with_its_items(admin_client):
    customer = CustomerFactory()

    response = admin_client.post(reverse("admin:customers_order_add"), order_admin_data(customer))

    assert response.status_code == 200
    errors = admin_errors(response)
    assert errors["__inline__"] == [
        "Total: The total 30.00 does not match the items: 20.00 - discount 0.00 + shipping 0.00 "
        "+ tax 0.00 = 20.00."
    ]
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()


def test_admin_accepts_an_order_whose_shipping_explains_the_difference(admin_client):
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:customers_order_add"),
        order_admin_data(customer, shipping_total="10.00", currency="eur"),
    )

    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.total, order.shipping_total, order.currency) == (
        Decimal("30.00"),
        Decimal("10.00"),
        "EUR",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"discount_total": "-5"}, "discount_total"),
        ({"placed_at_0": (timezone.localdate() + timedelta(days=3)).isoformat()}, "placed_at"),
    ],
)
def test_admin_refuses_bad_order_fields_at_the_field(admin_client, fields, field):
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:customers_order_add"), order_admin_data(customer, total="20.00", **fields)
    )

    assert response.status_code == 200
    assert field in admin_errors(response)
    assert not Order.objects.exists()


def test_admin_refuses_an_unknown_country_at_the_field(admin_client):
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:customers_address_add"),
        {
            "customer": customer.pk,
            "kind": "shipping",
            "line1": "1 Main St",
            "city": "Springfield",
            "country": "XX",
            "verification_status": "pending",
        },
    )

    assert response.status_code == 200
    assert "country" in admin_errors(response)
    assert not Address.objects.exists()


def test_admin_refuses_a_note_over_the_limit_saying_the_limit(admin_client, settings):
    settings.CRM_NOTE_MAX_LENGTH = 100
    customer = CustomerFactory()

    response = admin_client.post(
        reverse("admin:customers_note_add"),
        {"customer": customer.pk, "kind": "internal", "priority": "normal", "body": "x" * 101},
    )

    assert response.status_code == 200
    assert admin_errors(response)["body"] == [
        "A note can be at most 100 characters long; this one has 101."
    ]
    assert not Note.objects.exists()


def test_admin_accepts_a_tag_named_with_symbols_only(admin_client):
    response = admin_client.post(
        reverse("admin:customers_tag_add"),
        {"name": "!!!", "slug": "", "color": "#6c757d", "description": ""},
    )

    assert response.status_code == 302
    assert Tag.objects.get().slug.startswith("tag-")


def test_factories_still_make_valid_rows():
    for instance in (CustomerFactory(), OrderFactory(), AddressFactory(), NoteFactory()):
        instance.full_clean()


def test_admin_filters_addresses_by_the_countries_in_use(admin_client):
    AddressFactory(country="GB")

    page = admin_client.get(reverse("admin:customers_address_changelist")).content.decode()

    assert "?country=GB" in page
    assert "?country=FR" not in page
