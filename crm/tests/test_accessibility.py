"""Every staff page through axe-core (WCAG 2.2 A and AA), at desktop and at phone width.

The journeys in the other browser tests check the pages' htmx states as they go; this one
opens each page in the states a visit can leave it in: full, filtered, with form errors."""

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page

from customers.analytics.run import analytics_run
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    TagFactory,
    UserFactory,
)
from loyalty.models import LoyaltyAccount
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory, standard_tiers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(db):
    """A small shop with every kind of thing the pages show, scored once."""
    manager = UserFactory(username="morgan")
    manager.groups.add(Group.objects.get(name="Managers"))
    program = LoyaltyProgramFactory(name="Club", points_per_unit=Decimal("1"), pending_days=0)
    standard_tiers(program)
    RewardFactory(program=program, name="Coffee", points_cost=10)
    vip = TagFactory(name="VIP", color="#20c997")
    today = timezone.now()
    customers = []
    for index in range(12):
        customer = CustomerFactory(first_name=f"Ada{index}", last_name="Lovelace")
        for visit in range(index % 3 + 1):
            OrderFactory(
                customer=customer,
                status="delivered",
                total=Decimal(40 + index),
                placed_at=today - timedelta(days=10 + 40 * visit),
            )
        customers.append(customer)
    star = customers[-1]
    star.tags.add(vip, through_defaults={})
    NoteFactory(
        customer=star,
        author=manager,
        body="Call back",
        kind="follow_up",
        follow_up_on=timezone.localdate(),
    )
    AddressFactory(customer=star)
    analytics_run()
    account = LoyaltyAccount.objects.filter(customer=star).first()
    return {"customer": star, "account": account}


HEADINGS = """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
  .filter((h) => h.offsetParent !== null || h.closest('.offcanvas-lg'))
  .map((h) => Number(h.tagName[1]))"""


def assert_headings_in_order(page: Page) -> None:
    """One h1, and no heading more than one level below the one before it."""
    levels = page.evaluate(HEADINGS)
    assert levels.count(1) == 1, f"{page.url}: {levels}"
    skips = [(a, b) for a, b in pairwise(levels) if b > a + 1]
    assert not skips, f"{page.url}: headings skip a level {skips} in {levels}"


def log_in(page: Page, live_server, axe):
    page.goto(f"{live_server.url}/accounts/login/")
    axe()
    page.get_by_label("Username").fill("morgan")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    axe()


def test_every_staff_page_passes_axe(page: Page, live_server, axe, shop):
    customer = shop["customer"]
    log_in(page, live_server, axe)  # lands on the dashboard
    paths = [
        "/customers/",
        "/customers/?q=lovelace&sort=-total_spent",
        "/customers/?sort=-predicted_clv",
        "/customers/?rfm_segment=Champions&churn_risk_min=10",
        "/customers/?total_spent_min=abc&created_from=2026-13-45",  # filter errors
        f"/customers/{customer.pk}/",
        f"/customers/{customer.pk}/edit/",
        "/customers/new/",
        f"/customers/{customer.pk}/deactivate/",
        "/customers/follow-ups/",
        "/customers/addresses/pending/",
        "/customers/999999/",  # the 404 page
    ]
    if shop["account"] is not None:
        paths.append(f"/loyalty/accounts/{shop['account'].pk}/redeem/")
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        axe()
        assert_headings_in_order(page)


def test_a_form_with_errors_passes_axe(page: Page, live_server, axe, shop):
    log_in(page, live_server, axe)
    page.goto(f"{live_server.url}/customers/{shop['customer'].pk}/edit/")
    axe()
    page.get_by_label("Email", exact=True).fill("not an email")
    page.get_by_role("button", name="Save").click()
    axe()


def test_keyboard_users_skip_the_menu_search_first_and_see_what_has_focus(
    page: Page, live_server, axe, shop
):
    log_in(page, live_server, axe)
    page.goto(f"{live_server.url}/customers/")
    axe()

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    assert skip.bounding_box()["y"] >= 0  # shown when it has focus
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # From the content, the search comes before every filter.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('type')") == "search"

    # A focused control has a ring of 3 px in a colour that stands out from the page.
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; })()"
    )
    assert ring[0] == "solid" and ring[1] == "3px" and ring[2] == "rgb(10, 61, 145)"


def test_nothing_covers_a_filter_control_that_has_focus(page: Page, live_server, axe, shop):
    log_in(page, live_server, axe)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.emulate_media(reduced_motion="reduce")  # focus scrolls at once, not smoothly
    page.goto(f"{live_server.url}/customers/")
    axe()

    covered = page.evaluate(
        """() => {
          const covered = [];
          const panel = '#customer-filter-panel';
          for (const box of document.querySelectorAll(`${panel} input, ${panel} select`)) {
            box.focus();
            const r = box.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            const labelled = box.labels && [...box.labels].includes(hit);
            if (hit !== box && !box.contains(hit) && !labelled) {
              covered.push(box.id || box.name);
            }
          }
          return covered;
        }"""
    )

    assert covered == []


@pytest.mark.parametrize(
    ("width", "columns"),
    [
        (
            1366,
            ["Name", "Phone", "Orders", "Total spent", "Last order", "RFM segment", "Churn risk"],
        ),
        (390, ["Name", "Total spent", "Last order"]),
    ],
)
def test_the_customer_list_shows_its_key_columns_without_scrolling(
    page: Page, live_server, axe, shop, width, columns
):
    log_in(page, live_server, axe)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/customers/")
    axe()

    shown = page.evaluate(
        "[...document.querySelectorAll('#customer-table th')]"
        ".filter((th) => th.offsetParent !== null).map((th) => th.innerText.trim())"
    )
    wrapper = page.evaluate(
        "(() => { const box = document.querySelector('#customer-table').parentElement;"
        " return [box.scrollWidth, box.clientWidth]; })()"
    )

    assert [name.split(" (")[0].replace("\n", " ").rstrip(" ▲") for name in shown] == columns
    assert wrapper[0] <= wrapper[1], f"the table scrolls sideways: {wrapper}"


def test_the_at_risk_card_shows_what_it_ranks_by_on_a_phone(page: Page, live_server, axe, shop):
    from customers.analytics.scores import score_table_rebuild
    from customers.models import Customer

    Customer.objects.filter(pk=shop["customer"].pk).update(
        rfm_segment="At Risk", churn_risk=0.8, predicted_clv=Decimal("123456.78")
    )
    score_table_rebuild()
    log_in(page, live_server, axe)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    axe()

    card = page.locator("#card-at-risk")
    box = page.evaluate(
        "(() => { const box = document.querySelector('#at-risk').parentElement;"
        " return [box.scrollWidth, box.clientWidth]; })()"
    )
    shown = card.locator("th").evaluate_all(
        "(cells) => cells.filter((th) => th.offsetParent !== null).map((th) => th.innerText)"
    )

    assert shown == ["#", "Customer", "Churn risk", "Value at stake"]
    assert box[0] <= box[1], f"the card's table scrolls sideways: {box}"
