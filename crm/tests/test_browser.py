"""Staff journeys in a real browser: system Chromium, driven by Playwright, against live_server."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from customers.models import Customer, Note
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    OrderFactory,
    TagFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


PHONE_WIDTH = 390


@pytest.fixture
def support_user(db):
    user = UserFactory(username="sam")
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def manager_user(db):
    user = UserFactory(username="morgan")
    user.groups.add(Group.objects.get(name="Managers"))
    return user


def log_in(page: Page, live_server, username: str, next_path: str = "/"):
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def assert_fits_phone_width(page: Page):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= PHONE_WIDTH, f"page is {overflow}px wide at a {PHONE_WIDTH}px viewport"


def test_find_a_customer_by_part_of_their_phone_number(page: Page, live_server, support_user):
    CustomerFactory.create_batch(5)
    wanted = CustomerFactory(first_name="Imogen", last_name="Phonewise", phone="+14155550177")

    log_in(page, live_server, "sam", "/customers/")
    page.get_by_role("searchbox").fill("555 0177")
    page.get_by_role("searchbox").press("Enter")
    page.get_by_role("link", name=re.compile("Phonewise")).click()

    expect(page).to_have_url(re.compile(rf"/customers/{wanted.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Imogen Phonewise")


def test_tag_note_and_email_fix_on_the_customer_page(page: Page, live_server, support_user):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    TagFactory(name="Newsletter", slug="newsletter")

    log_in(page, live_server, "sam", f"/customers/{customer.pk}/")
    tags = page.locator("#tags-panel")
    tags.get_by_placeholder("Add a tag").fill("Newsletter")
    tags.get_by_role("button", name="Add").click()
    expect(tags.get_by_text("Newsletter", exact=True)).to_be_visible()

    notes = page.locator("#notes-panel")
    notes.get_by_label("Note").fill("Wants the red boots in size 38")
    notes.get_by_role("button", name="Add note").click()
    expect(notes.get_by_text("Wants the red boots in size 38")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Email", exact=True).fill("ada@invalid")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    assert Customer.objects.get(pk=customer.pk).email == "ada@example.com"

    page.get_by_label("Email", exact=True).fill("ada.lovelace@example.com")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.get_by_text("ada.lovelace@example.com")).to_be_visible()

    customer.refresh_from_db()
    assert customer.email == "ada.lovelace@example.com"
    assert list(customer.tags.values_list("name", flat=True)) == ["Newsletter"]
    assert Note.objects.get(customer=customer).body == "Wants the red boots in size 38"


def test_pages_fit_a_phone(page: Page, live_server, manager_user):
    customer = CustomerFactory(first_name="Narrow", last_name="Screen")
    OrderFactory(customer=customer, status="delivered", total=Decimal("1234.56"))
    AddressFactory(customer=customer)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})

    log_in(page, live_server, "morgan")
    for path in (
        "/",
        "/customers/",
        f"/customers/{customer.pk}/",
        f"/customers/{customer.pk}/edit/",
        "/customers/follow-ups/",
        "/customers/addresses/pending/",
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("main")).to_be_visible()
        assert_fits_phone_width(page)


def test_verify_an_address_from_the_queue(page: Page, live_server, support_user):
    address = AddressFactory(line1="12 Verification Road")

    log_in(page, live_server, "sam", "/customers/addresses/pending/")
    row = page.locator("tr, .card, li").filter(has_text="12 Verification Road").last
    row.get_by_role("button", name=re.compile("^Verify$")).click()
    expect(page.locator(f"#address-{address.pk}")).to_contain_text("Verified")

    address.refresh_from_db()
    assert address.verification_status == "verified"
    assert address.verified_by == support_user
    assert address.verified_at <= timezone.now()


def test_dashboard_charts_draw_data(page: Page, live_server, manager_user):
    now = timezone.now()
    for months_ago in range(4):
        OrderFactory(
            status="delivered",
            total=Decimal("100.00"),
            placed_at=now - timezone.timedelta(days=30 * months_ago + 1),
        )

    log_in(page, live_server, "morgan")

    for canvas_id in ("chart-revenue", "chart-new-customers"):
        expect(page.locator(f"canvas#{canvas_id}")).to_be_visible()
        points = page.evaluate(
            "(id) => Chart.getChart(id).data.datasets.flatMap((set) => set.data)", canvas_id
        )
        assert len(points) >= 12
        assert sum(float(value) for value in points) > 0
