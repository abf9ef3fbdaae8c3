"""A staff member's day from the keyboard alone: tag a customer, write a note, verify an address
in the queue and redeem a reward (with its confirmation). After each step focus is where the
work goes on and the live region says what happened; axe-core checks every page and update."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Locator, Page, expect

from customers.models import Note
from customers.tests.factories import AddressFactory, CustomerFactory, TagFactory, UserFactory
from loyalty import services as loyalty_services
from loyalty.models import Redemption
from loyalty.tests.factories import LoyaltyAccountFactory, LoyaltyProgramFactory, RewardFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# More than any of these pages has controls before the one a step looks for.
MAX_TABS = 80


@pytest.fixture
def shop(db):
    sam = UserFactory(username="sam")
    sam.groups.add(Group.objects.get(name="Support"))
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")
    TagFactory(name="VIP", color="#20c997")
    program = LoyaltyProgramFactory(name="Club")
    RewardFactory(program=program, name="Coffee", points_cost=10)
    account = LoyaltyAccountFactory(customer=customer, program=program)
    loyalty_services.loyalty_points_adjust(
        account=account, points=25, reason="Welcome gift", created_by=sam
    )
    first = AddressFactory(customer=customer, line1="1 First Street")
    second = AddressFactory(customer=CustomerFactory(), line1="2 Second Street")
    return {"customer": customer, "addresses": (first, second)}


def tab_to(page: Page, target: Locator, *, key: str = "Tab") -> None:
    """Press Tab (or ``key``) until ``target`` has focus, as someone on a keyboard would."""
    for _ in range(MAX_TABS):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{target} was not reached with {MAX_TABS} presses of {key}")


def settled(page: Page) -> None:
    """Wait for htmx to finish an update (focus moves and axe counts it once it has settled)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def test_tag_note_address_and_reward_with_the_keyboard_only(page: Page, live_server, axe, shop):
    customer = shop["customer"]
    first, second = shop["addresses"]
    live_region = page.locator("#live-region")
    customer_url = f"{live_server.url}/customers/{customer.pk}/"
    page.emulate_media(reduced_motion="reduce")  # axe reads colours after, not during, a fade

    page.goto(f"{live_server.url}/accounts/login/?next=/customers/{customer.pk}/")
    axe()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("password")
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(customer_url)
    axe()

    # A tag: typed, Enter; the input is empty and focused for the next one.
    tag_input = page.get_by_role("combobox", name="Tag name")
    tab_to(page, tag_input)
    page.keyboard.type("VIP")
    page.keyboard.press("Enter")
    expect(live_region).to_have_text("Tag VIP added")
    expect(page.get_by_role("button", name="Remove tag VIP")).to_be_visible()
    expect(tag_input).to_be_focused()
    expect(tag_input).to_have_value("")
    settled(page)
    axe()

    # A note: typed, then its button; focus goes to the new note.
    tab_to(page, page.get_by_role("textbox", name="Note"))
    page.keyboard.type("Asked about the autumn catalogue")
    tab_to(page, page.get_by_role("button", name="Add note"))
    page.keyboard.press("Enter")
    expect(live_region).to_have_text("Note added")
    note = Note.objects.get(customer=customer)
    expect(page.locator(f"#note-{note.pk}")).to_be_focused()
    expect(page.locator(f"#note-{note.pk}")).to_contain_text("Asked about the autumn catalogue")
    settled(page)
    axe()

    # The address queue: Verify with Space; focus moves to the next row's Verify button.
    page.goto(f"{live_server.url}/customers/addresses/pending/")
    axe()
    tab_to(page, page.locator(f"#address-{first.pk}").get_by_role("button", name="Verify"))
    page.keyboard.press("Space")
    expect(live_region).to_have_text("Address verified")
    expect(page.locator(f"#address-{first.pk}")).to_contain_text("Verified")
    next_verify = page.locator(f"#address-{second.pk}").get_by_role("button", name="Verify")
    expect(next_verify).to_be_focused()
    expect(next_verify).to_have_accessible_description(re.compile("2 Second Street"))
    settled(page)
    axe()
    first.refresh_from_db()
    assert first.verification_status == "verified"

    # A reward: chosen, then confirmed on the page that names it and its points.
    page.goto(customer_url)
    axe()
    tab_to(page, page.get_by_role("link", name="Redeem a reward"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Redeem a reward")
    axe()
    tab_to(page, page.get_by_role("button", name="Redeem for 10 points"))
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Redeem Coffee for 10 points")
    expect(page.get_by_role("heading", level=1)).to_have_text("Redeem Coffee for 10 points?")
    expect(confirm).to_be_focused()
    expect(confirm).to_have_accessible_description(re.compile("from 25 to 15 points"))
    axe()
    assert not Redemption.objects.exists()
    page.keyboard.press("Enter")

    expect(page).to_have_url(customer_url)
    code = Redemption.objects.get().code
    expect(live_region).to_have_text(f"Redeemed Coffee for 10 points. Voucher code: {code}")
    # A new page: the first Tab reaches the skip link, as on any page.
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    axe()
