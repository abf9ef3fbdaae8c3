"""The order admin's status field: it offers the moves an order may make, and no other."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import Order
from customers.tests.factories import OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db


def status_options(html: str) -> list[str]:
    """The values the status dropdown offers, in the order shown."""
    select = re.search(r'<select name="status"[^>]*>(.*?)</select>', html, re.S)
    assert select, "no status dropdown on the page"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


@pytest.mark.parametrize(
    ("status", "offered"),
    [
        ("pending", ["pending", "paid", "processing", "delivered", "cancelled"]),
        ("paid", ["paid", "processing", "shipped", "delivered", "cancelled", "refunded"]),
        ("shipped", ["shipped", "delivered", "cancelled", "returned"]),
        ("delivered", ["delivered", "cancelled", "returned", "refunded"]),
        ("returned", ["delivered", "returned", "refunded"]),
        ("cancelled", ["cancelled"]),
        ("refunded", ["refunded"]),
    ],
)
def test_the_change_form_offers_the_current_status_and_the_allowed_moves(
    admin_client, status, offered
):
    order = OrderFactory(status=status)

    response = admin_client.get(reverse("admin:customers_order_change", args=[order.pk]))

    assert response.status_code == 200
    assert status_options(response.content.decode()) == offered
    assert f'<option value="{status}" selected>' in response.content.decode()


def test_the_add_form_offers_every_status_a_new_order_may_start_in(admin_client):
    response = admin_client.get(reverse("admin:customers_order_add"))

    assert response.status_code == 200
    assert status_options(response.content.decode()) == list(Order.Status.values)
    assert '<option value="pending" selected>' in response.content.decode()


def test_a_move_made_impossible_since_the_page_loaded_is_refused_in_words(admin_client):
    order = OrderFactory(status="pending")
    url = reverse("admin:customers_order_change", args=[order.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data.update(
        {
            "status": "paid",  # offered when the page loaded
            "placed_at_0": order.placed_at.strftime("%Y-%m-%d"),
            "placed_at_1": order.placed_at.strftime("%H:%M:%S"),
            "items-TOTAL_FORMS": 0,
            "items-INITIAL_FORMS": 0,
            "status_changes-TOTAL_FORMS": 0,
            "status_changes-INITIAL_FORMS": 0,
        }
    )
    Order.objects.filter(pk=order.pk).update(status="cancelled")  # someone else cancelled it

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "cannot move from cancelled to paid" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "cancelled"


def unnamed_inputs(html: str) -> list[str]:
    """The ids of the form's inputs that neither a <label for> nor an aria-label names."""
    unnamed = []
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if re.search(r'type="(hidden|submit)"', tag) or "__prefix__" in tag:
            continue
        found = re.search(r'id="([^"]+)"', tag)
        named = "aria-label=" in tag or (found and f'for="{found.group(1)}"' in html)
        if not named:
            unnamed.append(found.group(1) if found else tag)
    return unnamed


def test_every_input_of_an_order_with_items_is_named(admin_client):
    order = OrderFactory(total=Decimal("20.00"), item_count=2)
    OrderItemFactory(order=order, product_name="Rain jacket", quantity=2)

    response = admin_client.get(reverse("admin:customers_order_change", args=[order.pk]))

    html = response.content.decode()
    assert unnamed_inputs(html) == []
    assert 'aria-label="Product name"' in html
    assert 'aria-label="Placed at: date"' in html and 'aria-label="Placed at: time"' in html
    assert 'aria-label="Delete 2 x Rain jacket"' in html
