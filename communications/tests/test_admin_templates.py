import pytest
from django.urls import reverse

from communications.models import Template
from communications.tests.factories import TemplateFactory
from customers.tests.factories import CustomerFactory
from loyalty.tests.factories import LoyaltyAccountFactory, TierFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:communications_template_add")


def client_get_status(client, url):
    return client.get(url.removeprefix("http://localhost:8000")).status_code


def _preview(template):
    return reverse("admin:communications_template_preview", args=[template.pk])


@pytest.fixture
def staff_marketing(client, db):
    from django.contrib.auth.models import Group

    from customers.tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client.force_login(user)
    return client


def test_saving_a_template_with_an_unknown_variable_shows_it_on_the_field(staff_marketing):
    response = staff_marketing.post(
        ADD,
        {
            "name": "Spring",
            "channel": "email",
            "purpose": "marketing",
            "subject": "Hello {% url 'home' %}",
            "body": "Hi {{ customer.first_name }}\n{{ customer.orders.all }}",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["body"] == [
        "line 2: “customer.orders.all” is not something a message can show; it can use "
        "customer.first_name, customer.last_name, loyalty.balance, loyalty.tier, shop_name, "
        "unsubscribe_url."
    ]
    assert "is not a tag a message can use" in form.errors["subject"][0]
    assert not Template.objects.exists()


def test_a_valid_template_is_saved(staff_marketing):
    response = staff_marketing.post(
        ADD,
        {
            "name": "Points",
            "channel": "sms",
            "purpose": "loyalty",
            "subject": "",
            "body": "{{ customer.first_name }}, you have {{ loyalty.balance }} points.",
        },
    )

    assert response.status_code == 302
    template = Template.objects.get()
    change = staff_marketing.get(
        reverse("admin:communications_template_change", args=[template.pk])
    )
    assert b"characters in GSM-7: 1 message" in change.content
    assert _preview(template).encode() in change.content


def test_the_preview_renders_the_template_for_a_customer_chosen_by_id(staff_marketing):
    customer = CustomerFactory(first_name="Ana", last_name="Silva")
    tier = TierFactory(name="Gold")
    LoyaltyAccountFactory(customer=customer, program=tier.program, balance=1500, tier=tier)
    template = TemplateFactory(
        channel="sms",
        subject="",
        body=(
            "Hi {{ customer.first_name }}, {{ loyalty.balance|intcomma }} points "
            "({{ loyalty.tier }}) € {{ unsubscribe_url }}"
        ),
    )

    response = staff_marketing.get(_preview(template), {"customer_id": customer.pk})

    assert response.status_code == 200
    body = response.context["rendered"]["body"]
    assert body.startswith("Hi Ana, 1,500 points (Gold) € http://localhost:8000/communications/")
    # The example unsubscribe link is a real one's length, of no message.
    assert client_get_status(staff_marketing, body.rsplit(" ", 1)[1]) == 404
    assert response.context["length"].encoding == "GSM-7"
    assert b"SMS length" in response.content


def test_the_preview_takes_the_autocomplete_choice_and_shows_the_subject(staff_marketing):
    customer = CustomerFactory(first_name="Bo")
    template = TemplateFactory(subject="News for {{ customer.first_name }}")

    response = staff_marketing.get(_preview(template), {"customer": customer.pk})

    assert response.context["rendered"]["subject"] == "News for Bo"
    assert b'id="preview-subject">News for Bo<' in response.content


def test_the_preview_says_when_the_customer_is_unknown(staff_marketing):
    template = TemplateFactory()

    response = staff_marketing.get(_preview(template), {"customer_id": 999999})

    assert response.context["rendered"] is None
    assert response.context["form"].errors == {
        "customer_id": ["No customer you may see has this id."]
    }


def test_the_preview_of_a_template_broken_since_lists_its_errors(staff_marketing):
    template = TemplateFactory()
    Template.objects.filter(pk=template.pk).update(body="{{ customer.email }}")

    response = staff_marketing.get(_preview(template), {"customer_id": CustomerFactory().pk})

    assert response.context["rendered"] is None
    assert b"cannot be sent until these are fixed" in response.content


def test_the_customer_autocomplete_answers_marketing(staff_marketing):
    CustomerFactory(first_name="Zelda", last_name="Quist")

    response = staff_marketing.get(
        reverse("admin:autocomplete"),
        {
            "term": "Quist",
            "app_label": "communications",
            "model_name": "ticket",
            "field_name": "customer",
        },
    )

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["text"].startswith("Zelda")


def test_support_may_not_change_templates_but_may_preview_them(client, db):
    from django.contrib.auth.models import Group

    from customers.tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    template = TemplateFactory()

    assert client.get(ADD).status_code == 403
    assert client.get(_preview(template), {"customer_id": CustomerFactory().pk}).status_code == 200


def test_the_changelist_queries(staff_marketing, assert_queries):
    TemplateFactory.create_batch(5)
    url = reverse("admin:communications_template_changelist")
    staff_marketing.get(url)  # warm the session and content types

    with assert_queries(5):
        response = staff_marketing.get(url, {"q": "Template"})

    assert response.status_code == 200
