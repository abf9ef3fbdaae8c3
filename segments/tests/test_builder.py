"""The rule builder (segments/builder.py, the builder forms in segments/forms.py): the pages that
make and edit a segment's rules as rows, the rows redrawn over htmx, the live count."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.testing import announced, element, focused
from customers.tests.factories import CustomerFactory, TagFactory
from segments import services
from segments.models import Segment
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory, all_of, condition

pytestmark = pytest.mark.django_db

BUILD_URL = reverse("segments:build")
ROWS_URL = reverse("segments:builder_rows")
PREVIEW_URL = reverse("segments:builder_preview")
HTMX = {"HTTP_HX_REQUEST": "true"}


def edit_url(segment) -> str:
    return reverse("segments:edit", args=[segment.slug])


def posted(*rows, match="all", name="Built", description="", **extra) -> dict:
    """The builder's form data for rows given as (field, op, value[, second value])."""
    data = {
        "name": name,
        "description": description,
        "match": match,
        "conditions-TOTAL_FORMS": str(len(rows)),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "30",
    }
    for index, row in enumerate(rows):
        key = f"conditions-{index}-"
        data[f"{key}field"], data[f"{key}op"] = row[0], row[1]
        if len(row) > 2:
            data[f"{key}value"] = row[2]
        if len(row) > 3:
            data[f"{key}value_high"] = row[3]
    return {**data, **extra}


def problems(response) -> list[str]:
    return [message for _, message in response.context["problems"]]


@pytest.fixture
def builder(client_with_perms):
    return client_with_perms("segments.view_segment", "segments.add_segment")


@pytest.fixture
def editor(client_with_perms):
    return client_with_perms("segments.view_segment", "segments.change_segment")


# The new-segment page ----------------------------------------------------------------------


def test_the_page_starts_with_one_blank_row(builder, django_assert_num_queries):
    # session, user with permissions; nothing is counted yet
    with django_assert_num_queries(2):
        response = builder.get(BUILD_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["formset"].total_form_count() == 1
    assert 'name="conditions-TOTAL_FORMS" value="1"' in html
    assert "Choose a field for each condition" in html
    field = element(response, id="id_conditions-0-field")
    assert field["hx-post"] == ROWS_URL


def test_saving_makes_the_segment_counts_it_and_opens_its_members(builder):
    CustomerFactory(first_name="Big", last_name="Spender", total_spent=Decimal("900.00"))
    CustomerFactory(first_name="Small", last_name="Spender", total_spent=Decimal("20.00"))

    response = builder.post(
        BUILD_URL,
        posted(("total_spent", "gte", "500"), name="Big spenders", description="Over 500"),
    )

    segment = Segment.objects.get(name="Big spenders")
    assert response.status_code == 302
    assert response.url == reverse("segments:detail", args=[segment.slug])
    assert segment.description == "Over 500"
    assert segment.rules == all_of(condition("total_spent", "gte", 500))
    assert segment.member_count == 1
    assert segment.evaluated_at is not None


def test_the_saved_segments_members_are_the_rows_meaning(builder):
    today = timezone.localdate()
    vip = TagFactory(name="VIP", slug="vip")
    wanted = CustomerFactory(
        first_name="Wanted",
        total_spent=Decimal("150.00"),
        customer_type="vip",
        accepts_email=True,
        date_of_birth=date(1990, today.month, 1),
    )
    wanted.tags.add(vip)
    # Each misses exactly one row.
    for overrides in (
        {"total_spent": Decimal("99.99")},
        {"total_spent": Decimal("300.01")},
        {"customer_type": "retail"},
        {"accepts_email": False},
        {"date_of_birth": None},
    ):
        values = {
            "total_spent": Decimal("150.00"),
            "customer_type": "vip",
            "accepts_email": True,
            "date_of_birth": date(1990, today.month, 1),
            **overrides,
        }
        CustomerFactory(first_name="Missed", **values).tags.add(vip)
    CustomerFactory(
        first_name="Untagged",
        total_spent=Decimal("150.00"),
        customer_type="vip",
        date_of_birth=date(1990, today.month, 1),
    )

    builder.post(
        BUILD_URL,
        posted(
            ("total_spent", "between", "100", "300"),
            ("customer_type", "in", ["vip", "wholesale"]),
            ("accepts_email", "eq", "true"),
            ("birthday_month", "eq", "current"),
            ("tags", "has_any", " vip , gold "),
            name="Birthday VIPs",
        ),
    )

    segment = Segment.objects.get(name="Birthday VIPs")
    assert segment.rules == all_of(
        condition("total_spent", "between", [100, 300]),
        condition("customer_type", "in", ["vip", "wholesale"]),
        condition("accepts_email", "eq", True),
        condition("birthday_month", "eq", "current"),
        condition("tags", "has_any", ["vip", "gold"]),
    )
    assert [customer.first_name for customer in segment.customers()] == ["Wanted"]


def test_any_joins_the_rows_with_or(builder):
    CustomerFactory(first_name="Suspended", status="suspended", total_spent=Decimal(0))
    CustomerFactory(first_name="Rich", total_spent=Decimal("5000.00"))
    CustomerFactory(first_name="Neither", total_spent=Decimal(0))

    builder.post(
        BUILD_URL,
        posted(
            ("status", "eq", "suspended"),
            ("total_spent", "gte", "1000"),
            match="any",
            name="Either",
        ),
    )

    segment = Segment.objects.get(name="Either")
    assert segment.rules["match"] == "any"
    assert {customer.first_name for customer in segment.customers()} == {"Suspended", "Rich"}


def test_values_are_stored_as_the_rules_read_them(builder):
    builder.post(
        BUILD_URL,
        posted(
            ("total_spent", "gte", "499.90"),
            ("churn_risk", "lte", "0.7"),
            ("days_since_last_order", "in", "1, 2,3"),
            ("country", "eq", "gbr"),
            ("city", "is_empty"),
            name="Typed",
        ),
    )

    assert Segment.objects.get(name="Typed").rules["conditions"] == [
        condition("total_spent", "gte", "499.90"),
        condition("churn_risk", "lte", 0.7),
        condition("days_since_last_order", "in", [1, 2, 3]),
        condition("country", "eq", "GB"),
        {"field": "city", "op": "is_empty"},
    ]


# Problems, named by condition --------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message", "control"),
    [
        (("total_spent", "gte", "a lot"), "Condition 1: Total spent needs a number", "value"),
        (("total_spent", "gte", ""), "Condition 1: Total spent needs a number", "value"),
        (
            ("total_spent", "gte", "1e400"),
            "Condition 1: Total spent needs a number from 0 to 999,999,999,999.99",
            "value",
        ),
        (
            ("order_count", "lt", "99999999999999999999"),
            "Condition 1: Order count needs a whole number from 0 to 2,147,483,647",
            "value",
        ),
        (
            ("churn_risk", "gte", "70"),
            "Condition 1: Churn risk needs a number from 0 to 1",
            "value",
        ),
        (
            ("total_spent", "between", "500", "100"),
            "Condition 1: “is between” needs two values, lowest first",
            "value",
        ),
        (("status", "gt", "active"), "Condition 1: Status does not allow “is more than”", "op"),
        (("status", "bogus", "active"), "Condition 1: Unknown operator “bogus”", "op"),
        (("color", "eq", "red"), "Condition 1: Unknown field 'color'", "field"),
        (("", "", ""), "Condition 1: Needs a field", "field"),
        (("status", "in", ""), "Condition 1: “is one of” needs a list of values", "value"),
        (
            ("status", "eq", "gone"),
            "Condition 1: Status needs one of active, inactive, suspended",
            "value",
        ),
        (
            ("accepts_email", "eq", "maybe"),
            "Condition 1: Accepts email needs true or false",
            "value",
        ),
        (
            ("country", "eq", "Narnia"),
            "Condition 1: Country needs an ISO 3166 country code, such as US",
            "value",
        ),
        (
            ("days_since_last_order", "gte", "current"),
            "Condition 1: Days since last order needs a whole number",
            "value",
        ),
    ],
)
def test_a_bad_row_is_refused_naming_its_condition_and_the_problem(builder, row, message, control):
    response = builder.post(BUILD_URL, posted(row, name="Refused"))

    assert response.status_code == 200
    assert not Segment.objects.filter(name="Refused").exists()
    assert problems(response) == [message]
    anchor = response.context["problems"][0][0]
    assert anchor == f"id_conditions-0-{control}"
    assert element(response, id=anchor)["aria-invalid"] == "true"
    assert element(response, id="error-summary")["role"] == "alert"


def test_each_problem_goes_to_its_own_row(builder):
    response = builder.post(
        BUILD_URL,
        posted(
            ("total_spent", "gte", "500"),
            ("order_count", "gte", "many"),
            ("status", "eq", "active"),
            ("churn_risk", "gte", "2"),
        ),
    )

    assert problems(response) == [
        "Condition 2: Order count needs a whole number",
        "Condition 4: Churn risk needs a number from 0 to 1",
    ]
    rows = response.context["formset"].forms
    assert [bool(row.errors) for row in rows] == [False, True, False, True]
    assert rows[1].errors["value"] == ["Order count needs a whole number"]
    # The preview says the same instead of a count.
    assert response.context["preview"]["problems"] == problems(response)


def test_a_new_segment_needs_a_condition(builder):
    response = builder.post(BUILD_URL, posted(name="Empty"))

    assert not Segment.objects.filter(name="Empty").exists()
    assert problems(response) == [
        "Add at least one condition: a segment without rules holds only the customers added "
        "to it by hand."
    ]


def test_a_tampered_match_is_refused_at_its_field(builder):
    response = builder.post(BUILD_URL, posted(("status", "eq", "active"), match="every"))

    assert problems(response) == ["Customers match: 'match' must be 'all' or 'any'"]
    assert response.context["problems"][0][0] == "id_match_0"


@pytest.mark.parametrize("total", ["", "abc", "-1", "31", "99999999999999999999999", "1.5"])
def test_a_tampered_row_count_is_refused_on_every_endpoint(builder, total):
    data = posted(("status", "eq", "active"), name="Tampered")
    data["conditions-TOTAL_FORMS"] = total

    page = builder.post(BUILD_URL, data)
    rows = builder.post(ROWS_URL, data, **HTMX)
    preview = builder.post(PREVIEW_URL, data, **HTMX)

    assert not Segment.objects.filter(name="Tampered").exists()
    assert [page.status_code, rows.status_code, preview.status_code] == [200, 200, 200]
    expected = "The number of conditions sent (conditions-TOTAL_FORMS) is missing or not a whole"
    assert problems(page)[0].startswith(expected)
    assert expected in rows.content.decode()
    assert expected in preview.content.decode()


def test_missing_management_data_is_refused(builder):
    data = {"name": "Bare", "conditions-0-field": "status", "conditions-0-op": "eq"}

    response = builder.post(BUILD_URL, data)

    assert response.status_code == 200
    assert not Segment.objects.filter(name="Bare").exists()
    assert "conditions-TOTAL_FORMS" in problems(response)[0]


def test_a_huge_field_name_is_cut_before_it_is_echoed(builder):
    response = builder.post(BUILD_URL, posted(("x" * 100_000, "eq", "1")))

    assert problems(response) == [f"Condition 1: Unknown field '{'x' * 100}'"]


def test_a_taken_or_reserved_name_is_refused_at_the_field(builder):
    SegmentFactory(name="Big spenders", slug="big-spenders")

    taken = builder.post(BUILD_URL, posted(("status", "eq", "active"), name="Big Spenders!"))
    reserved = builder.post(BUILD_URL, posted(("status", "eq", "active"), name="Build"))

    assert "already exists" in taken.context["form"].errors["name"][0]
    assert "is taken by a page of its own" in reserved.context["form"].errors["name"][0]
    assert problems(taken)[0].startswith("Name: A segment with a name so close")


# Without JavaScript ------------------------------------------------------------------------


def test_without_javascript_the_buttons_redraw_the_page_without_saving(builder):
    data = posted(("status", "eq", "active"), ("total_spent", "gte", "x"), name="Draft")

    added = builder.post(BUILD_URL, {**data, "add_condition": "1"})
    removed = builder.post(BUILD_URL, {**data, "remove_condition": "0"})

    assert not Segment.objects.filter(name="Draft").exists()
    assert added.context["formset"].total_form_count() == 3
    assert added.context["problems"] == []  # nothing is judged until it is saved
    assert added.context["form"]["name"].value() == "Draft"
    assert removed.context["formset"].total_form_count() == 1
    assert removed.context["formset"].forms[0].initial["field"] == "total_spent"


def test_without_javascript_a_field_change_shows_its_comparisons(builder):
    data = posted(("status", "gte", "500"))

    response = builder.post(BUILD_URL, {**data, "refresh_rows": "1"})

    row = response.context["formset"].forms[0]
    assert row.initial["op"] == "eq"
    assert [value for value, _ in row.fields["op"].widget.choices] == ["eq", "ne", "in", "not_in"]


# Redrawing the rows over htmx --------------------------------------------------------------


def test_adding_a_row_counts_it_and_focuses_its_field(builder):
    data = posted(("status", "eq", "active"), ("total_spent", "gte", "100"))

    response = builder.post(ROWS_URL, {**data, "add_condition": "1"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="conditions-TOTAL_FORMS" value="3"' in html
    assert [attrs["id"] for attrs in focused(response)] == ["id_conditions-2-field"]
    assert announced(response) == ("Condition 3 added. Not counted: Condition 3: Needs a field")


def test_removing_a_row_renumbers_the_rest_and_focuses_the_next(builder):
    CustomerFactory(status="active", total_spent=Decimal("200.00"))
    data = posted(("status", "eq", "active"), ("color", "eq", "x"), ("total_spent", "gte", "100"))

    response = builder.post(ROWS_URL, {**data, "remove_condition": "1"}, **HTMX)

    forms = response.context["formset"].forms
    assert [form.initial["field"] for form in forms] == ["status", "total_spent"]
    assert 'name="conditions-TOTAL_FORMS" value="2"' in response.content.decode()
    assert [attrs["id"] for attrs in focused(response)] == ["id_conditions-1-field"]
    assert announced(response) == "Condition 2 removed. 1 customer matches"


def test_removing_the_last_row_focuses_the_add_button(builder):
    response = builder.post(
        ROWS_URL, {**posted(("status", "eq", "active")), "remove_condition": "0"}, **HTMX
    )

    assert [attrs["id"] for attrs in focused(response)] == ["builder-add"]
    assert 'name="conditions-TOTAL_FORMS" value="0"' in response.content.decode()


@pytest.mark.parametrize("index", ["5", "-1", "x", ""])
def test_removing_a_row_that_is_not_there_changes_nothing(builder, index):
    data = posted(("status", "eq", "active"))

    response = builder.post(ROWS_URL, {**data, "remove_condition": index}, **HTMX)

    assert response.status_code == 200
    assert response.context["formset"].total_form_count() == 1


def test_a_changed_field_gets_its_own_comparisons_and_value_widget(builder):
    # The row had total_spent / gte / 500; the user picks Status.
    data = posted(("status", "gte", "500"))

    response = builder.post(ROWS_URL, data, HTTP_HX_TRIGGER_NAME="conditions-0-field", **HTMX)

    row = response.context["formset"].forms[0]
    assert row.initial["op"] == "eq"
    assert row.initial["value"] == ""
    assert [label for _, label in row.fields["op"].widget.choices] == [
        "is",
        "is not",
        "is one of",
        "is none of",
    ]
    value = element(response, id="id_conditions-0-value")
    assert value["hx-post"] == PREVIEW_URL
    assert "<select" in response.content.decode().split('id="id_conditions-0-value"')[0][-300:]
    assert [attrs["id"] for attrs in focused(response)] == ["id_conditions-0-field"]


def test_widgets_follow_the_field_and_the_comparison(builder):
    data = posted(
        ("accepts_email", "eq", "false"),
        ("status", "in", ["active", "suspended"]),
        ("birthday_month", "ne", "current"),
        ("total_spent", "between", "10", "20"),
        ("city", "is_empty"),
        ("tags", "has_all", "vip, gold"),
    )

    response = builder.post(ROWS_URL, data, HTTP_HX_TRIGGER_NAME="conditions-1-op", **HTMX)

    forms = response.context["formset"].forms
    yes_no, several, month, between, empty, tags = forms
    assert yes_no.fields["value"].widget.choices == [("true", "yes"), ("false", "no")]
    assert yes_no.initial["value"] == "false"
    assert several.fields["value"].widget.allow_multiple_selected
    assert several.initial["value"] == ["active", "suspended"]
    assert month.fields["value"].widget.choices[:3] == [
        ("", "Choose a value"),
        ("current", "This month"),
        ("1", "January"),
    ]
    assert set(between.fields) == {"field", "op", "value", "value_high"}
    assert set(empty.fields) == {"field", "op"}
    assert tags.fields["value"].widget.attrs["placeholder"] == "e.g. vip"
    assert "Separate values with commas." in tags.fields["value"].help_text
    assert [attrs["id"] for attrs in focused(response)] == ["id_conditions-1-op"]


def test_the_rows_cannot_grow_past_the_limit(builder):
    data = posted(*[("status", "eq", "active")] * 30)

    response = builder.post(ROWS_URL, {**data, "add_condition": "1"}, **HTMX)

    assert response.context["formset"].total_form_count() == 30
    assert "A segment takes at most 30 conditions." in response.content.decode()
    assert announced(response).startswith("A segment takes at most 30 conditions.")


# The live count ----------------------------------------------------------------------------


def test_the_preview_counts_the_customers_the_rows_match(builder, django_assert_num_queries):
    for spent in ("600.00", "700.00", "10.00"):
        CustomerFactory(total_spent=Decimal(spent))
    data = posted(("total_spent", "gte", "500"))

    # session, user with permissions, the count
    with django_assert_num_queries(3):
        response = builder.post(PREVIEW_URL, data, **HTMX)

    assert response.status_code == 200
    assert "customers match, counted just now." in response.content.decode()
    assert announced(response) == "2 customers match"


def test_the_preview_counts_only_customers_the_user_may_see(builder, monkeypatch):
    from core import visibility

    CustomerFactory(total_spent=Decimal("600.00"))
    monkeypatch.setattr(visibility, "customer_filter", lambda user, via="": visibility.NOTHING)

    response = builder.post(PREVIEW_URL, posted(("total_spent", "gte", "500")), **HTMX)

    assert announced(response) == "No customer matches"


def test_the_preview_names_what_keeps_it_from_counting(builder, django_assert_num_queries):
    data = posted(("total_spent", "gte", "lots"), ("status", "eq", ""))

    with django_assert_num_queries(2):  # nothing is counted
        response = builder.post(PREVIEW_URL, data, **HTMX)

    html = response.content.decode()
    assert "Condition 1: Total spent needs a number" in html
    assert "Condition 2: Status needs one of active, inactive, suspended" in html
    assert (
        announced(response) == "Not counted: Condition 1: Total spent needs a number (and 1 more)"
    )


def test_the_preview_waits_for_a_field(builder):
    response = builder.post(PREVIEW_URL, posted(("", "", "")), **HTMX)

    assert (
        announced(response) == "Choose a field for each condition to count the customers who match."
    )


# Editing a segment -------------------------------------------------------------------------


def test_the_edit_page_shows_the_rules_as_rows(editor, django_assert_num_queries):
    segment = SegmentFactory(
        name="Mixed",
        rules={
            "match": "any",
            "conditions": [
                condition("total_spent", "between", ["100", 300]),
                condition("status", "in", ["active", "inactive"]),
                condition("accepts_sms", "eq", False),
                condition("tags", "has_any", ["vip", "gold"]),
                condition("city", "is_not_empty"),
            ],
        },
    )
    CustomerFactory(status="inactive")

    # session, user with permissions, the segment, the count
    with django_assert_num_queries(4):
        response = editor.get(edit_url(segment))

    assert response.status_code == 200
    assert response.context["form"]["match"].value() == "any"
    assert [form.initial for form in response.context["formset"].forms] == [
        {"field": "total_spent", "op": "between", "value": "100", "value_high": "300"},
        {"field": "status", "op": "in", "value": ["active", "inactive"], "value_high": ""},
        {"field": "accepts_sms", "op": "eq", "value": "false", "value_high": ""},
        {"field": "tags", "op": "has_any", "value": "vip, gold", "value_high": ""},
        {"field": "city", "op": "is_not_empty", "value": "", "value_high": ""},
    ]
    assert response.context["preview"] == {"count": 1}


def test_saving_an_edit_keeps_the_address_and_counts_again(editor):
    segment = SegmentFactory(name="Old name", slug="old-name")
    SegmentMembershipFactory(segment=segment)
    CustomerFactory(status="suspended")

    response = editor.post(
        edit_url(segment),
        posted(("status", "eq", "suspended"), name="New name", description="Changed"),
    )

    segment.refresh_from_db()
    assert response.url == reverse("segments:detail", args=["old-name"])
    assert (segment.name, segment.slug, segment.description) == ("New name", "old-name", "Changed")
    assert segment.rules == all_of(condition("status", "eq", "suspended"))
    assert segment.member_count == 2  # the rules' one and the one added by hand


def test_an_edit_may_take_away_every_condition(editor):
    segment = SegmentFactory(name="Hand-picked")

    editor.post(edit_url(segment), posted(name="Hand-picked"))

    segment.refresh_from_db()
    assert segment.rules == {}


def test_a_refused_edit_changes_nothing_and_keeps_the_header(editor):
    segment = SegmentFactory(name="Stable", rules=all_of(condition("order_count", "gte", 1)))
    SegmentFactory(name="Other")

    response = editor.post(edit_url(segment), posted(("order_count", "gte", "x"), name="other"))

    segment.refresh_from_db()
    assert segment.name == "Stable"
    assert segment.rules == all_of(condition("order_count", "gte", 1))
    assert "Edit “Stable”" in response.content.decode()
    assert problems(response) == [
        "Name: Another segment is already called “other”.",
        "Condition 1: Order count needs a whole number",
    ]


def test_a_pre_built_segment_keeps_its_name(editor):
    segment = Segment.objects.get(system_key="vip")

    page = editor.get(edit_url(segment))
    editor.post(edit_url(segment), posted(("rfm_monetary", "eq", "5"), name="Renamed"))

    segment.refresh_from_db()
    assert "disabled" in element(page, id="id_name")
    assert segment.name == "VIP"
    assert segment.rules == all_of(condition("rfm_monetary", "eq", 5))


def test_a_pre_built_segments_name_stays_shown_when_the_rows_are_redrawn(editor):
    segment = Segment.objects.get(system_key="vip")
    data = posted(("rfm_monetary", "eq", "5"))
    del data["name"]  # a disabled field is not sent

    response = editor.post(edit_url(segment), {**data, "add_condition": "1"})

    assert element(response, id="id_name")["value"] == "VIP"


def test_nested_rules_are_not_shown_as_rows_and_are_kept(editor):
    nested = {
        "match": "all",
        "conditions": [
            condition("total_spent", "gte", 500),
            {"match": "any", "conditions": [condition("order_count", "gte", 7)]},
        ],
    }
    segment = SegmentFactory(name="Nested", rules=nested)

    page = editor.get(edit_url(segment))
    response = editor.post(edit_url(segment), {"name": "Nested", "description": "Still nested"})

    html = page.content.decode()
    assert "cannot show as rows" in html
    assert reverse("admin:segments_segment_change", args=[segment.pk]) in html
    assert "conditions-TOTAL_FORMS" not in html
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.description, segment.rules) == ("Still nested", nested)


# Permissions and links ---------------------------------------------------------------------


def test_building_needs_add_and_editing_needs_change(client_with_perms):
    segment = SegmentFactory()
    anonymous = Client()
    viewer = client_with_perms("segments.view_segment")

    assert anonymous.get(BUILD_URL).status_code == 302  # to the login page
    assert anonymous.post(PREVIEW_URL, posted()).status_code == 302
    assert viewer.get(BUILD_URL).status_code == 403
    assert viewer.get(edit_url(segment)).status_code == 403
    assert viewer.post(ROWS_URL, posted(), **HTMX).status_code == 403
    assert viewer.post(PREVIEW_URL, posted(), **HTMX).status_code == 403
    assert viewer.post(BUILD_URL, posted(("status", "eq", "active"), name="No")).status_code == 403
    assert not Segment.objects.filter(name="No").exists()


@pytest.mark.parametrize("permission", ["segments.add_segment", "segments.change_segment"])
def test_add_or_change_may_use_the_rows_and_the_count(client_with_perms, permission):
    client = client_with_perms(permission)

    assert client.post(PREVIEW_URL, posted(), **HTMX).status_code == 200
    assert client.post(ROWS_URL, posted(), **HTMX).status_code == 200


def test_adding_alone_may_not_edit(builder):
    assert builder.get(edit_url(SegmentFactory())).status_code == 403


def test_the_endpoints_take_only_post(builder):
    assert builder.get(ROWS_URL).status_code == 405
    assert builder.get(PREVIEW_URL).status_code == 405


def test_the_list_and_the_segment_link_to_the_builder_for_those_who_may_use_it(
    client_with_perms,
):
    segment = SegmentFactory()
    detail = reverse("segments:detail", args=[segment.slug])
    list_url = reverse("segments:list")
    viewer = client_with_perms("segments.view_segment")
    list_html = viewer.get(list_url).content.decode()
    detail_html = viewer.get(detail).content.decode()
    assert BUILD_URL not in list_html
    assert edit_url(segment) not in detail_html

    maker = client_with_perms(
        "segments.view_segment", "segments.add_segment", "segments.change_segment"
    )

    assert BUILD_URL in maker.get(list_url).content.decode()
    assert edit_url(segment) in maker.get(detail).content.decode()


def test_a_date_field_takes_the_browsers_date_picker_and_is_stored_as_a_day(builder):
    rows = builder.post(ROWS_URL, posted(("created_at", "gte", "")), **HTMX)
    builder.post(
        BUILD_URL, posted(("created_at", "between", "2026-01-01", "2026-01-31"), name="Jan")
    )

    value = element(rows, id="id_conditions-0-value")
    assert value["type"] == "date"
    assert "placeholder" not in value
    assert Segment.objects.get(name="Jan").rules == all_of(
        condition("created_at", "between", ["2026-01-01", "2026-01-31"])
    )


# The service -------------------------------------------------------------------------------


def test_segment_update_changes_the_segment_and_keeps_its_address():
    segment = SegmentFactory(name="Before", slug="before")

    services.segment_update(
        segment=segment,
        name="After",
        description="New words",
        rules=all_of(condition("order_count", "gte", 2)),
    )

    segment.refresh_from_db()
    assert (segment.name, segment.slug, segment.description) == ("After", "before", "New words")
    assert segment.rules == all_of(condition("order_count", "gte", 2))


def test_segment_update_refuses_invalid_rules_and_writes_nothing():
    segment = SegmentFactory(name="Kept", rules=all_of(condition("order_count", "gte", 1)))

    with pytest.raises(ValidationError) as refused:
        services.segment_update(
            segment=segment,
            name="Changed",
            description="",
            rules=all_of(condition("order_count", "gte", "x")),
        )

    assert refused.value.message_dict["rules"] == [
        "condition 1: 'order_count' needs a whole number"
    ]
    stored = Segment.objects.get(pk=segment.pk)
    assert (stored.name, stored.rules) == ("Kept", all_of(condition("order_count", "gte", 1)))


def test_a_value_read_otherwise_in_summaries_is_explained_under_it(builder):
    response = builder.post(ROWS_URL, posted(("churn_risk", "gte", "")), **HTMX)

    hint = response.context["formset"].forms[0].fields["value"].help_text
    assert hint == "From 0 to 1. 0.7 is 70%."
