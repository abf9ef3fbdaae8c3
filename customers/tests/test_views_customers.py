"""The customer page and its in-place parts, create, edit and "delete"."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from core import registry
from core.testing import announced, element, elements, focused
from customers.models import Customer, CustomerTag, Note, Tag, TagRemoval
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SUPPORT_PERMS = (
    "customers.view_customer",
    "customers.change_customer",
    "customers.add_customer",
    "customers.view_order",
    "customers.view_note",
    "customers.add_note",
    "customers.change_note",
    "customers.view_address",
)


def detail_url(customer):
    return reverse("customers:detail", args=[customer.pk])


def test_detail_shows_profile_stats_addresses_orders_notes_and_timeline(client_in_group):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace", phone="+14155550134")
    now = timezone.now()
    OrderFactory(
        customer=customer,
        status="delivered",
        total=Decimal("120.00"),
        placed_at=now - timedelta(days=40),
    )
    OrderFactory(
        customer=customer,
        status="delivered",
        total=Decimal("80.00"),
        placed_at=now - timedelta(days=5),
    )
    AddressFactory(customer=customer, city="Springfield", verification_status="verified")
    NoteFactory(customer=customer, body="Prefers Saturday mornings", pinned=True)
    customer.tags.add(TagFactory(name="VIP"))
    client = client_in_group("Support")

    response = client.get(detail_url(customer))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Ada Lovelace" in page
    assert "+1 415-555-0134" in page
    assert "200.00" in page and "100.00" in page  # total spent, average order
    assert "Occasional" in page  # two orders
    assert response.context["days_since_last_order"] == 5
    assert "Springfield" in page
    assert "Prefers Saturday mornings" in page
    assert "VIP" in page
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert {"order", "note", "tag", "address", "customer"} <= set(kinds)
    times = [entry.at for entry in response.context["timeline"]]
    assert times == sorted(times, reverse=True)


def test_notes_pinned_first(client_with_perms):
    customer = CustomerFactory()
    NoteFactory(customer=customer, body="older pinned", pinned=True)
    NoteFactory(customer=customer, body="newest plain")
    client = client_with_perms("customers.view_customer", "customers.view_note")

    response = client.get(detail_url(customer))

    bodies = [note.body for note in response.context["notes_page"]]
    assert bodies == ["older pinned", "newest plain"]


# Session, the user with their permissions (core.auth), the customer, its tags, its addresses
# (the Addresses card and the timeline share them), the loyalty panel (Managers may enrol: the
# open programs too), the Communications panel (the latest contacts, which the timeline shares,
# and the open tickets), the Segments panel (2), the timeline (orders, status changes, notes,
# tags, loyalty), the orders and notes counted together, the tag names to add, the notes page
# and the orders page. communications/tests/test_panels.py pins the same with a long history of
# contacts and tickets.
@pytest.mark.parametrize(("group", "expected"), [("Support", 19), ("Managers", 20)])
def test_detail_query_count_is_constant_in_history_size(
    client_in_group, assert_queries, group, expected
):
    customer = CustomerFactory()
    client = client_in_group(group)
    for _ in range(300):
        OrderFactory(customer=customer, status="delivered")
    Note.objects.bulk_create([Note(customer=customer, body=f"note {n}") for n in range(300)])
    AddressFactory.create_batch(3, customer=customer)

    # The tags' part of the timeline is one query: tags carried and tags removed together.
    with assert_queries(expected):
        response = client.get(detail_url(customer))

    assert response.status_code == 200
    assert len(response.context["orders_page"]) == 10
    assert response.context["orders_page"].paginator.count == 300
    assert response.context["notes_page"].paginator.count == 300
    assert len(response.context["timeline"]) == 30
    assert {"segments", "communications"} <= {panel.key for panel, _ in response.context["panels"]}


def test_orders_and_notes_paginate_in_place(client_in_group):
    customer = CustomerFactory()
    for _ in range(15):
        OrderFactory(customer=customer)
    client = client_in_group("Support")

    response = client.get(
        reverse("customers:orders", args=[customer.pk]), {"orders_page": 2}, **HTMX
    )

    assert response.status_code == 200
    assert response.context["orders_page"].number == 2
    assert len(response.context["orders_page"]) == 5
    assert 'id="orders-panel"' in response.content.decode()


def test_add_tag_in_place_with_htmx(client_in_group):
    customer = CustomerFactory()
    TagFactory(name="Newsletter", slug="newsletter")
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:tag_add", args=[customer.pk]), {"name": "newsletter"}, **HTMX
    )

    assert response.status_code == 200
    assert 'id="tags-panel"' in response.content.decode()
    assert list(customer.tags.values_list("name", flat=True)) == ["Newsletter"]
    link = CustomerTag.objects.get(customer=customer)
    assert link.added_by is not None


def test_unknown_tag_is_refused_at_the_field_without_add_tag_permission(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:tag_add", args=[customer.pk]), {"name": "Brand new"}, **HTMX
    )

    assert "There is no tag named" in response.content.decode()
    assert not Tag.objects.exists()


def test_manager_creates_a_new_tag_by_typing_it(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Managers")

    client.post(reverse("customers:tag_add", args=[customer.pk]), {"name": "Birthday club"})

    assert list(customer.tags.values_list("name", flat=True)) == ["Birthday club"]


def test_remove_tag(client_in_group):
    customer = CustomerFactory()
    tag = TagFactory()
    customer.tags.add(tag)
    client = client_in_group("Support")

    response = client.post(reverse("customers:tag_remove", args=[customer.pk, tag.pk]), **HTMX)

    assert response.status_code == 200
    assert not customer.tags.exists()


# Announcements and focus after the in-place updates ------------------------------------------


def test_adding_a_tag_announces_it_and_leaves_the_empty_input_focused(client_in_group):
    customer = CustomerFactory()
    TagFactory(name="VIP")
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:tag_add", args=[customer.pk]), {"name": "vip"}, **HTMX
    )

    assert announced(response) == "Tag VIP added"
    [target] = focused(response)
    assert target["id"] == "tag-name"
    assert target["value"] == ""
    assert "aria-invalid" not in target


def test_a_refused_tag_name_is_tied_to_its_input_which_keeps_focus(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:tag_add", args=[customer.pk]), {"name": "Brand new"}, **HTMX
    )

    field = element(response, id="tag-name")
    assert field["aria-invalid"] == "true"
    assert field["aria-describedby"] == "tag-name-error"
    assert field["value"] == "Brand new"
    assert "data-focus" in field
    assert element(response, id="tag-name-error")["class"] == "invalid-feedback"
    assert "There is no tag named “Brand new”." in response.content.decode()
    assert announced(response) == ""


def test_removing_a_tag_announces_it_and_focuses_the_next_tags_remove_button(client_in_group):
    customer = CustomerFactory()
    first, middle, last = (
        TagFactory(name="Alpha"),
        TagFactory(name="Beta"),
        TagFactory(name="Gamma"),
    )
    customer.tags.add(first, middle, last)
    client = client_in_group("Support")

    response = client.post(reverse("customers:tag_remove", args=[customer.pk, middle.pk]), **HTMX)

    assert announced(response) == "Tag Beta removed"
    [target] = focused(response)
    assert target["aria-label"] == "Remove tag Gamma"


def test_removing_the_last_tag_in_the_list_focuses_the_one_before(client_in_group):
    customer = CustomerFactory()
    first, last = TagFactory(name="Alpha"), TagFactory(name="Beta")
    customer.tags.add(first, last)
    client = client_in_group("Support")

    response = client.post(reverse("customers:tag_remove", args=[customer.pk, last.pk]), **HTMX)

    [target] = focused(response)
    assert target["aria-label"] == "Remove tag Alpha"


def test_removing_the_only_tag_focuses_the_tag_input(client_in_group):
    customer = CustomerFactory()
    tag = TagFactory(name="VIP")
    customer.tags.add(tag)
    client = client_in_group("Support")

    response = client.post(reverse("customers:tag_remove", args=[customer.pk, tag.pk]), **HTMX)

    assert announced(response) == "Tag VIP removed"
    [target] = focused(response)
    assert target["id"] == "tag-name"


def test_a_tag_removal_is_recorded_with_who_removed_it(client, user_with_perms):
    user = user_with_perms("customers.change_customer", "customers.view_tag")
    client.force_login(user)
    customer = CustomerFactory()
    tag = TagFactory(name="VIP")
    customer.tags.add(tag)

    client.post(reverse("customers:tag_remove", args=[customer.pk, tag.pk]), **HTMX)

    removal = TagRemoval.objects.get()
    assert (removal.customer, removal.tag, removal.removed_by) == (customer, tag, user)


def test_tag_badges_pick_a_readable_text_colour_and_the_remove_button_names_the_tag(
    client_in_group,
):
    customer = CustomerFactory()
    customer.tags.add(
        TagFactory(name="Gold", color="#ffc107"), TagFactory(name="Navy", color="#001f5b")
    )

    response = client_in_group("Support").get(detail_url(customer))

    gold, navy = (
        found
        for tag, found in elements(response)
        if "badge" in found.get("class", "") and "rounded-pill" in found.get("class", "")
    )
    assert gold["style"] == "background-color: #ffc107; color: #000"
    assert navy["style"] == "background-color: #001f5b; color: #fff"
    assert "btn-close-white" not in response.content.decode()
    remove = element(response, **{"aria-label": "Remove tag Gold"})
    assert "tag-remove" in remove["class"]
    assert target_rule(".tag-remove") >= {"width: 24px;", "height: 24px;"}
    assert focused(response) == []


def test_adding_a_note_announces_it_and_focuses_the_new_note(client_in_group):
    customer = CustomerFactory()
    NoteFactory(customer=customer, body="Pinned long ago", pinned=True)
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:notes", args=[customer.pk]),
        {"body": "Asked for a call back", "kind": "internal", "priority": "normal"},
        **HTMX,
    )

    note = Note.objects.get(body="Asked for a call back")
    assert announced(response) == "Note added"
    [target] = focused(response)
    assert target["id"] == f"note-{note.pk}"
    assert target["tabindex"] == "-1"


def test_a_refused_note_is_tied_to_its_field_which_gets_focus(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:notes", args=[customer.pk]),
        {"body": "", "kind": "internal", "priority": "normal"},
        **HTMX,
    )

    body = element(response, name="body")
    assert body["aria-invalid"] == "true"
    assert "data-focus" in body
    error = element(response, id=body["aria-describedby"])
    assert error["class"] == "invalid-feedback"
    assert focused(response) == [body]
    assert announced(response) == ""


def test_pinning_a_note_announces_it_and_keeps_focus_on_its_button(client_in_group):
    note = NoteFactory(body="Likes green")
    NoteFactory(customer=note.customer, body="Newer")
    client = client_in_group("Support")

    pinned = client.post(reverse("customers:note_pin", args=[note.pk]), **HTMX)
    unpinned = client.post(reverse("customers:note_pin", args=[note.pk]), **HTMX)

    assert announced(pinned) == "Note pinned"
    assert announced(unpinned) == "Note unpinned"
    for response in (pinned, unpinned):
        [target] = focused(response)
        assert target["aria-describedby"] == f"note-{note.pk}-body"
        assert target["class"].startswith("btn")


def test_pinning_keeps_the_page_of_notes_shown(client_in_group):
    customer = CustomerFactory()
    notes = [NoteFactory(customer=customer, body=f"note {n}") for n in range(12)]
    client = client_in_group("Support")
    oldest = notes[0]  # on page 2

    page_two = client.get(reverse("customers:notes", args=[customer.pk]), {"notes_page": 2}, **HTMX)
    pin_url = reverse("customers:note_pin", args=[oldest.pk])
    done = client.post(f"{reverse('customers:note_done', args=[oldest.pk])}?notes_page=2", **HTMX)

    assert f'hx-post="{pin_url}?notes_page=2"' in page_two.content.decode()
    assert done.context["notes_page"].number == 2
    assert announced(done) == "Follow-up marked done"
    [target] = focused(done)
    assert target["aria-describedby"] == f"note-{oldest.pk}-body"


def test_a_note_that_leaves_the_page_sends_focus_to_the_panel_header(client_in_group):
    customer = CustomerFactory()
    note = NoteFactory(customer=customer, body="Was pinned", pinned=True)
    for n in range(10):
        NoteFactory(customer=customer, body=f"newer {n}")
    client = client_in_group("Support")

    response = client.post(reverse("customers:note_pin", args=[note.pk]), **HTMX)

    assert note.body not in response.content.decode()
    [target] = focused(response)
    assert target["tabindex"] == "-1"
    assert "card-header" in target["class"]


@pytest.mark.parametrize(
    ("name", "param", "what"),
    [("orders", "orders_page", "Orders"), ("notes", "notes_page", "Notes")],
)
def test_paging_in_place_announces_the_page_and_focuses_the_panel_header(
    client_in_group, name, param, what
):
    customer = CustomerFactory()
    for _ in range(15):
        OrderFactory(customer=customer)
        NoteFactory(customer=customer)
    client = client_in_group("Support")

    response = client.get(reverse(f"customers:{name}", args=[customer.pk]), {param: 2}, **HTMX)
    page = client.get(detail_url(customer))

    assert announced(response) == f"{what}, page 2 of 2"
    [target] = focused(response)
    assert "card-header" in target["class"]
    assert focused(page) == []


def target_rule(selector: str) -> set[str]:
    """The declarations of ``selector`` in the site's stylesheet."""
    from django.conf import settings

    css = (settings.BASE_DIR / "static" / "css" / "crm.css").read_text()
    body = css.split(selector + " {", 1)[1].split("}", 1)[0]
    return {line.strip() for line in body.replace(";", ";\n").splitlines() if line.strip()}


def test_the_pin_button_is_a_24_pixel_target(client_in_group):
    note = NoteFactory()

    response = client_in_group("Support").get(detail_url(note.customer))

    pin = element(response, **{"aria-describedby": f"note-{note.pk}-body", "type": "submit"})
    assert "crm-target" in pin["class"]
    assert target_rule(".crm-target") >= {"min-width: 24px;", "min-height: 24px;"}


def test_add_note_with_follow_up(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")
    due = timezone.localdate() + timedelta(days=3)

    response = client.post(
        reverse("customers:notes", args=[customer.pk]),
        {
            "body": "Call about the boots",
            "kind": "follow_up",
            "priority": "high",
            "follow_up_on": due,
        },
        **HTMX,
    )

    assert response.status_code == 200
    note = Note.objects.get(customer=customer)
    assert (note.body, note.follow_up_on, note.priority) == ("Call about the boots", due, "high")
    assert note.author is not None
    assert "Call about the boots" in response.content.decode()


def test_empty_note_is_refused_at_the_field(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:notes", args=[customer.pk]),
        {"body": "", "kind": "internal", "priority": "normal"},
        **HTMX,
    )

    assert response.context["note_form"].errors["body"]
    assert not Note.objects.exists()


def test_a_note_over_the_limit_is_refused_at_the_field_saying_the_limit(client_in_group, settings):
    settings.CRM_NOTE_MAX_LENGTH = 50
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:notes", args=[customer.pk]),
        {"body": "x" * 51, "kind": "internal", "priority": "normal"},
        **HTMX,
    )

    assert response.context["note_form"].errors["body"] == [
        "A note can be at most 50 characters long; this one has 51."
    ]
    assert "at most 50 characters" in response.content.decode()
    assert not Note.objects.exists()


def test_a_long_pasted_note_is_not_cut_short_by_the_browser(client_in_group):
    customer = CustomerFactory()

    response = client_in_group("Support").get(detail_url(customer))

    assert "maxlength" not in response.content.decode().split('name="body"')[1].split(">")[0]


@pytest.mark.parametrize("name", ["!!!", "😀😀"])
def test_a_tag_named_without_letters_is_added(client_in_group, name):
    customer = CustomerFactory()
    client = client_in_group("Managers")

    response = client.post(reverse("customers:tag_add", args=[customer.pk]), {"name": name}, **HTMX)

    assert response.status_code == 200
    assert "cannot be blank" not in response.content.decode()
    assert list(customer.tags.values_list("name", flat=True)) == [name]


def test_pin_and_complete_a_follow_up(client_in_group):
    note = NoteFactory(follow_up_on=timezone.localdate())
    client = client_in_group("Support")

    client.post(reverse("customers:note_pin", args=[note.pk]), **HTMX)
    response = client.post(
        reverse("customers:note_done", args=[note.pk]), {"next": reverse("customers:follow_ups")}
    )

    note.refresh_from_db()
    assert note.pinned and note.done
    assert response["Location"] == reverse("customers:follow_ups")


def test_note_done_refuses_a_foreign_next_url(client_in_group):
    note = NoteFactory(follow_up_on=timezone.localdate())
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:note_done", args=[note.pk]), {"next": "https://evil.example.com/"}
    )

    assert response["Location"] == detail_url(note.customer)


def customer_form_data(**overrides):
    data = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "phone": "+1 415 555 0199",
        "customer_type": "retail",
        "source": "walk_in",
        "status": "active",
        "best_contact_time": "any",
        "can_receive_offers": "on",
        "can_receive_loyalty": "on",
        "preferred_categories": "Shoes, Beauty",
        "attributes": '{"size": "M"}',
    }
    data.update(overrides)
    return data


def test_create_customer(client_in_group):
    client = client_in_group("Support")

    response = client.post(reverse("customers:create"), customer_form_data())

    customer = Customer.objects.get()
    assert response["Location"] == detail_url(customer)
    assert str(customer.phone) == "+14155550199"
    assert customer.preferred_categories == ["Shoes", "Beauty"]
    assert customer.attributes == {"size": "M"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "123"}, "phone"),
        ({"first_name": ""}, "first_name"),
        ({"attributes": "{not json"}, "attributes"),
        ({"email": "TAKEN@example.com"}, "email"),
    ],
)
def test_create_refuses_bad_input_at_the_field(client_in_group, overrides, field):
    CustomerFactory(email="taken@example.com")
    client = client_in_group("Support")

    response = client.post(reverse("customers:create"), customer_form_data(**overrides))

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert Customer.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"date_of_birth": "2999-01-01"},
            "date_of_birth",
            "The date of birth cannot be in the future.",
        ),
        (
            {"date_of_birth": "1850-01-01"},
            "date_of_birth",
            "The date of birth cannot be before 1900-01-01.",
        ),
        ({"attributes": '["M", "L"]'}, "attributes", "Enter the attributes as a JSON object"),
        ({"attributes": '"size M"'}, "attributes", "Enter the attributes as a JSON object"),
        ({"attributes": "42"}, "attributes", "Enter the attributes as a JSON object"),
        ({"attributes": '{"size": NaN}'}, "attributes", "Numbers must be finite"),
        ({"attributes": "9" * 5000}, "attributes", "Enter a valid JSON."),
        ({"attributes": "[" * 100_000 + "]" * 100_000}, "attributes", "Enter a valid JSON."),
        ({"attributes": '{"size": 1e400}'}, "attributes", "Numbers must be finite"),
        ({"attributes": '{"size": "\\u0000"}'}, "attributes", "Null characters are not allowed."),
        ({"phone_extension": "12a"}, "phone_extension", "Enter the extension as digits only."),
    ],
)
def test_create_shows_what_is_wrong_beside_the_field(client_in_group, overrides, field, message):
    client = client_in_group("Support")

    response = client.post(reverse("customers:create"), customer_form_data(**overrides))

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert message.replace('"', "&quot;") in response.content.decode()
    assert not Customer.objects.exists()


def test_create_keeps_the_extension_typed_with_the_phone_and_shows_it_on_edit(client_in_group):
    client = client_in_group("Support")

    client.post(reverse("customers:create"), customer_form_data(phone="+1 415 555 0199 ext. 42"))

    customer = Customer.objects.get()
    assert (str(customer.phone), customer.phone_extension) == ("+14155550199", "42")
    form = client.get(reverse("customers:update", args=[customer.pk])).context["form"]
    assert form["phone_extension"].value() == "42"


def test_edit_customer_keeps_stats(client_in_group):
    customer = CustomerFactory(first_name="Old")
    OrderFactory(customer=customer, status="delivered", total=Decimal("42.00"))
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:update", args=[customer.pk]),
        customer_form_data(first_name="New", email=customer.email),
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.first_name == "New"
    assert customer.total_spent == Decimal("42.00")


def test_edit_to_invalid_email_shows_error_and_saves_nothing(client_in_group):
    customer = CustomerFactory(email="keep@example.com")
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:update", args=[customer.pk]), customer_form_data(email="broken@")
    )

    assert "Enter a valid email address." in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).email == "keep@example.com"


def test_delete_asks_then_sets_inactive(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")
    url = reverse("customers:deactivate", args=[customer.pk])

    confirm = client.get(url)
    assert "set inactive" in confirm.content.decode()
    assert Customer.objects.get(pk=customer.pk).status == "active"

    client.post(url)
    assert Customer.objects.get(pk=customer.pk).status == "inactive"


@pytest.mark.parametrize(
    ("name", "args", "method"),
    [
        ("customers:detail", True, "get"),
        ("customers:update", True, "get"),
        ("customers:create", False, "get"),
        ("customers:deactivate", True, "post"),
        ("customers:tag_add", True, "post"),
        ("customers:notes", True, "post"),
    ],
)
def test_pages_need_permissions(client, client_with_perms, name, args, method):
    customer = CustomerFactory(first_name="Secretname")
    url = reverse(name, args=[customer.pk] if args else [])

    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]

    nobody = client_with_perms()
    response = getattr(nobody, method)(url, {"name": "x", "body": "x"})
    assert response.status_code == 403
    assert "Secretname" not in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).status == "active"
    assert not Note.objects.exists()


def test_marketing_sees_the_page_but_cannot_edit(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Marketing")

    page = client.get(detail_url(customer)).content.decode()

    assert reverse("customers:update", args=[customer.pk]) not in page
    assert client.get(reverse("customers:update", args=[customer.pk])).status_code == 403


def test_registered_panel_and_timeline_entries_appear(client_in_group, settings, tmp_path):
    (tmp_path / "extra_panel.html").write_text("Balance: {{ panel.balance }}")
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], tmp_path]}]
    customer = CustomerFactory()
    registry.register_panel(
        key="test-extra",
        title="Extra",
        template="extra_panel.html",
        context=lambda request, customer: {"balance": 1234},
    )
    registry.register_timeline_source(
        key="test-extra",
        entries=lambda customer, limit: [
            registry.TimelineEntry(at=timezone.now(), kind="extra", title="Extra happened")
        ],
    )
    registry.register_panel(
        key="test-hidden",
        title="Hidden",
        template="extra_panel.html",
        context=lambda request, customer: {"balance": 0},
        permission="customers.delete_customer",
    )
    try:
        response = client_in_group("Support").get(detail_url(customer))
    finally:
        registry._panels.pop("test-extra"), registry._panels.pop("test-hidden")
        registry._timeline_sources.pop("test-extra")

    page = response.content.decode()
    assert "Balance: 1234" in page
    assert "Extra happened" in page
    assert "Hidden" not in page
