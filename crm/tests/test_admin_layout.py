"""The admin change forms with wide inline tables, in a real browser at a laptop's 1366 px: the
page itself never scrolls sideways; a table too wide for the window scrolls inside its own box."""

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import Page

from customers.tests.factories import OrderFactory, OrderItemFactory, UserFactory
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory, standard_tiers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 900}
SMALL_LAPTOP = {"width": 1024, "height": 768}


@pytest.fixture
def admin_page(page: Page, live_server, axe):
    """The admin, logged in as a superuser at 1366 by 900 px; every page checked with axe."""
    UserFactory(username="root", is_superuser=True, is_staff=True)
    page.set_viewport_size(LAPTOP)
    page.goto(live_server.url + "/admin/login/")
    axe()
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    axe()
    # The project's stylesheet comes with the site's own header and title (crm/urls.py).
    assert page.locator("#site-name").inner_text() == "CRM administration"
    assert page.title().endswith("| CRM admin")
    assert page.locator('link[href$="css/admin.css"]').count() == 1
    return page


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_an_order_with_items_fits_the_window(admin_page: Page, live_server, axe):
    order = OrderFactory(total=Decimal("59.97"), item_count=3, status="shipped")
    for name in ("Organic cotton T-shirt, long sleeves", "Slim jeans", "Rain jacket"):
        OrderItemFactory(
            order=order,
            product_name=name,
            sku="APP-" + name.split()[0].upper(),
            unit_price=Decimal("19.99"),
        )

    admin_page.goto(live_server.url + reverse("admin:customers_order_change", args=[order.pk]))
    axe()

    assert admin_page.get_by_role("heading", name="Order items").is_visible()
    assert page_width(admin_page) <= LAPTOP["width"]


def test_a_loyalty_program_with_tiers_and_rewards_fits_the_window(
    admin_page: Page, live_server, axe
):
    program = LoyaltyProgramFactory(name="Rewards Club")
    standard_tiers(program)
    for name in ("Free shipping", "10% off one order", "Canvas tote bag"):
        RewardFactory(program=program, name=name, points_cost=500, stock=40)

    admin_page.goto(
        live_server.url + reverse("admin:loyalty_loyaltyprogram_change", args=[program.pk])
    )
    axe()

    assert admin_page.get_by_role("heading", name="Rewards", exact=True).is_visible()
    assert page_width(admin_page) <= LAPTOP["width"]
    # Narrower still, the rewards table scrolls inside its box.
    admin_page.set_viewport_size(SMALL_LAPTOP)
    assert page_width(admin_page) <= SMALL_LAPTOP["width"]
    rewards = admin_page.locator("#rewards-group .tabular")
    assert rewards.evaluate("(box) => box.scrollWidth > box.clientWidth")
