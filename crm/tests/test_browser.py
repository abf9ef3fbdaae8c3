"""Staff journeys in a real browser: system Chromium, driven by Playwright, against live_server.

Each page loaded and each htmx update is checked with axe-core (the ``axe`` fixture) before the
next one."""

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


def log_in(page: Page, live_server, axe, username: str, next_path: str = "/"):
    # Without transitions, axe reads a control's colours as they end up, not halfway through
    # a hover fade under the pointer that has just clicked.
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    axe()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))
    axe()


def live_region(page: Page):
    return page.locator("#live-region")


def settled(page: Page):
    """Wait for htmx to finish an update: the new content is in the page before it settles, and
    focus moves (static/js/a11y.js) and axe's bookkeeping count the update when it has."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def assert_fits_phone_width(page: Page):
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= PHONE_WIDTH, f"page is {overflow}px wide at a {PHONE_WIDTH}px viewport"


def test_find_a_customer_by_part_of_their_phone_number(page: Page, live_server, axe, support_user):
    CustomerFactory.create_batch(5)
    wanted = CustomerFactory(first_name="Imogen", last_name="Phonewise", phone="+14155550177")

    log_in(page, live_server, axe, "sam", "/customers/")
    page.get_by_role("searchbox").fill("555 0177")
    page.get_by_role("searchbox").press("Enter")
    expect(page).to_have_url(re.compile(r"q=555"))
    axe()
    page.get_by_role("link", name=re.compile("Phonewise")).click()

    expect(page).to_have_url(re.compile(rf"/customers/{wanted.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Imogen Phonewise")
    axe()


def test_tag_note_and_email_fix_on_the_customer_page(page: Page, live_server, axe, support_user):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    TagFactory(name="Newsletter", slug="newsletter")

    log_in(page, live_server, axe, "sam", f"/customers/{customer.pk}/")
    tags = page.locator("#tags-panel")
    tags.get_by_placeholder("Add a tag").fill("Newsletter")
    tags.get_by_role("button", name="Add").click()
    expect(tags.get_by_text("Newsletter", exact=True)).to_be_visible()
    expect(live_region(page)).to_have_text("Tag Newsletter added")
    expect(tags.get_by_placeholder("Add a tag")).to_be_focused()
    settled(page)
    axe()

    notes = page.locator("#notes-panel")
    notes.get_by_label("Note").fill("Wants the red boots in size 38")
    notes.get_by_role("button", name="Add note").click()
    expect(notes.get_by_text("Wants the red boots in size 38")).to_be_visible()
    expect(live_region(page)).to_have_text("Note added")
    settled(page)
    axe()

    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Email", exact=True)).to_be_visible()
    axe()
    page.get_by_label("Email", exact=True).fill("ada@invalid")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Enter a valid email address.", exact=True)).to_be_visible()
    axe()
    assert Customer.objects.get(pk=customer.pk).email == "ada@example.com"

    page.get_by_label("Email", exact=True).fill("ada.lovelace@example.com")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    expect(page.get_by_text("ada.lovelace@example.com")).to_be_visible()
    axe()

    customer.refresh_from_db()
    assert customer.email == "ada.lovelace@example.com"
    assert list(customer.tags.values_list("name", flat=True)) == ["Newsletter"]
    assert Note.objects.get(customer=customer).body == "Wants the red boots in size 38"


def test_tag_and_note_controls_are_24_pixel_targets_with_their_errors_tied_to_them(
    page: Page, live_server, axe, support_user, settings
):
    settings.CRM_NOTE_MAX_LENGTH = 20
    customer = CustomerFactory()
    customer.tags.add(TagFactory(name="VIP", color="#ffc107"), TagFactory(name="Zebra"))
    Note.objects.create(customer=customer, body="Prefers email")

    log_in(page, live_server, axe, "sam", f"/customers/{customer.pk}/")
    remove = page.get_by_role("button", name="Remove tag VIP")
    pin = page.locator("#notes-panel").get_by_role("button", name="Pin")
    for target in (remove, pin):
        box = target.bounding_box()
        assert box["width"] >= 24 and box["height"] >= 24, box

    remove.focus()
    page.keyboard.press("Enter")
    expect(live_region(page)).to_have_text("Tag VIP removed")
    expect(page.get_by_role("button", name="Remove tag Zebra")).to_be_focused()
    settled(page)
    axe()

    tag_input = page.get_by_placeholder("Add a tag")
    tag_input.fill("No such tag")
    tag_input.press("Enter")
    expect(tag_input).to_have_attribute("aria-invalid", "true")
    expect(tag_input).to_be_focused()
    expect(tag_input).to_have_accessible_description(re.compile("There is no tag named"))
    settled(page)
    axe()

    body = page.locator("#notes-panel").get_by_label("Note")
    body.fill("A note longer than the limit")
    page.locator("#notes-panel").get_by_role("button", name="Add note").click()
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(body).to_be_focused()
    expect(body).to_have_accessible_description(re.compile("at most 20 characters"))
    settled(page)
    axe()

    pin.click()
    expect(live_region(page)).to_have_text("Note pinned")
    expect(page.locator("#notes-panel").get_by_role("button", name="Unpin")).to_be_focused()
    settled(page)
    axe()


def test_pages_fit_a_phone(page: Page, live_server, axe, manager_user):
    customer = CustomerFactory(first_name="Narrow", last_name="Screen")
    OrderFactory(customer=customer, status="delivered", total=Decimal("1234.56"))
    AddressFactory(customer=customer)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})

    log_in(page, live_server, axe, "morgan")
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
        axe()


def test_verify_an_address_from_the_queue(page: Page, live_server, axe, support_user):
    address = AddressFactory(line1="12 Verification Road")
    following = AddressFactory(line1="14 Verification Road")

    log_in(page, live_server, axe, "sam", "/customers/addresses/pending/")
    row = page.locator("tr, .card, li").filter(has_text="12 Verification Road").last
    row.get_by_role("button", name=re.compile("^Verify$")).click()
    expect(page.locator(f"#address-{address.pk}")).to_contain_text("Verified")
    expect(live_region(page)).to_have_text("Address verified")
    expect(
        page.locator(f"#address-{following.pk}").get_by_role("button", name="Verify")
    ).to_be_focused()
    expect(page.locator('[data-counter="verified"]')).to_have_text("1")
    settled(page)
    axe()

    page.locator(f"#address-{following.pk}").get_by_role("button", name="Verify").click()
    expect(live_region(page)).to_have_text("Address verified")
    expect(page.get_by_role("heading", name="Address verification")).to_be_focused()
    settled(page)
    axe()

    address.refresh_from_db()
    assert address.verification_status == "verified"
    assert address.verified_by == support_user
    assert address.verified_at <= timezone.now()


def test_bulk_verify_from_the_queue(page: Page, live_server, axe, support_user):
    chosen = [AddressFactory(line1=f"{n} Bulk Street") for n in range(3)]
    left = AddressFactory(line1="9 Other Street")

    log_in(page, live_server, axe, "sam", "/customers/addresses/pending/")
    for address in chosen:
        page.get_by_role("checkbox", name=f"Select the address of {address.customer}").check()
    page.get_by_role("button", name="Verify selected").click()
    expect(live_region(page)).to_have_text("3 addresses verified")
    expect(page.get_by_role("heading", name="Address verification")).to_be_focused()
    expect(page.locator("#address-queue > li")).to_have_count(1)
    settled(page)
    axe()

    left.refresh_from_db()
    assert left.verification_status == "pending"
    for address in chosen:
        address.refresh_from_db()
        assert address.verification_status == "verified"


def test_dashboard_charts_draw_data(page: Page, live_server, axe, manager_user):
    now = timezone.now()
    for months_ago in range(4):
        OrderFactory(
            status="delivered",
            total=Decimal("100.00"),
            placed_at=now - timezone.timedelta(days=30 * months_ago + 1),
        )

    log_in(page, live_server, axe, "morgan")

    for canvas_id in ("chart-revenue", "chart-new-customers"):
        expect(page.locator(f"canvas#{canvas_id}")).to_be_visible()
        points = page.evaluate(
            "(id) => Chart.getChart(id).data.datasets.flatMap((set) => set.data)", canvas_id
        )
        assert len(points) >= 12
        assert sum(float(value) for value in points) > 0
