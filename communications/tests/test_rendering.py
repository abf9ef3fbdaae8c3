import pytest
from django.core.exceptions import ValidationError

from communications.rendering import (
    CompiledMessage,
    customer_contexts,
    render_message,
    sms_length,
    template_errors,
)
from communications.tests.factories import TemplateFactory
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty.tests.factories import LoyaltyAccountFactory, LoyaltyProgramFactory, TierFactory

pytestmark = pytest.mark.django_db


def test_a_message_renders_the_customer_loyalty_shop_and_unsubscribe_link(settings):
    settings.CRM_NAME = "Corner Shop"
    customer = CustomerFactory(first_name="Ana", last_name="O'Brien")
    tier = TierFactory(name="Gold")
    LoyaltyAccountFactory(customer=customer, program=tier.program, balance=12345, tier=tier)

    subject, body = render_message(
        subject="News from {{ shop_name }}\nfor {{ customer.first_name }}",
        body=(
            "Hello {{ customer.first_name }} {{ customer.last_name }},\n"
            "you have {{ loyalty.balance|intcomma }} points ({{ loyalty.tier }}).\n"
            "{{ unsubscribe_url }}\n\n"
        ),
        customer=customer,
        unsubscribe_url="https://crm.example/u/x/?a=1&b=2",
    )

    assert subject == "News from Corner Shop for Ana"
    # Plain text: nothing is HTML-escaped.
    assert body == (
        "Hello Ana O'Brien,\nyou have 12,345 points (Gold).\nhttps://crm.example/u/x/?a=1&b=2"
    )


def test_the_database_beyond_the_context_is_unreachable():
    customer = CustomerFactory(first_name="Ana")
    OrderFactory(customer=customer, number="SECRET-1")
    source = (
        "[{{ customer.orders.all }}][{{ customer.email }}][{{ customer.pk }}]"
        "[{{ customer.first_name.upper.lower }}][{{ loyalty.account.customer }}]"
        "[{% for order in customer.orders.all %}{{ order.number }}{% endfor %}]"
        "[{{ settings.SECRET_KEY }}][{{ request.user }}]"
    )

    _subject, body = render_message(subject="", body=source, customer=customer)

    assert body == "[][][][ana][][][][]"
    assert "SECRET" not in body


def test_the_context_holds_plain_values_only():
    customer = CustomerFactory()

    context = customer_contexts([customer])[customer.pk]

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, (str, int))

    assert plain(context)
    assert set(context) == {"customer", "loyalty", "shop_name", "unsubscribe_url"}


@pytest.mark.parametrize(
    "body",
    [
        "{% load humanize %}",
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% url 'home' %}",
        "{% debug %}",
        "{% csrf_token %}",
        "{% block x %}{% endblock %}",
        "{{ customer.first_name|safe }}",
        "{{ customer.first_name.__class__ }}",
    ],
)
def test_forbidden_tags_filters_and_attributes_are_errors(body):
    errors = template_errors(subject="", body=body, channel="sms")

    assert len(errors) == 1
    assert errors[0].startswith("Body, line 1: ")
    with pytest.raises(ValidationError):
        CompiledMessage(subject="", body=body)


def test_errors_name_the_field_the_line_and_the_unknown_variable():
    errors = template_errors(
        subject="Hi {{ customer.nickname }}",
        body="Hello\n{% if loyalty.balance > 10 %}{{ orders }}{% endif %}\n{{ customer }}",
        channel="email",
    )

    assert errors == [
        "Subject: “customer.nickname” is not something a message can show; it can use "
        "customer.first_name, customer.last_name, loyalty.balance, loyalty.tier, shop_name, "
        "unsubscribe_url.",
        "Body, line 2: “orders” is not something a message can show; it can use "
        "customer.first_name, customer.last_name, loyalty.balance, loyalty.tier, shop_name, "
        "unsubscribe_url.",
        "Body, line 3: “customer” is not something a message can show; it can use "
        "customer.first_name, customer.last_name, loyalty.balance, loyalty.tier, shop_name, "
        "unsubscribe_url.",
    ]


def test_syntax_errors_say_the_line():
    errors = template_errors(subject="", body="Hello\n\n{% if %}x{% endif %}", channel="sms")

    assert errors == ["Body, line 3: Unexpected end of expression in if tag."]


def test_loop_and_with_variables_and_filter_arguments_are_checked_in_scope():
    ok = (
        "{% for letter in customer.first_name %}{{ letter }}{{ forloop.counter }}{% endfor %}"
        "{% with name=customer.first_name %}{{ name|default:shop_name }}{% endwith %}"
    )
    assert template_errors(subject="", body=ok, channel="sms") == []
    outside = "{% with name=customer.first_name %}{% endwith %}{{ name }}{{ x|default:y }}"
    assert len(template_errors(subject="", body=outside, channel="sms")) == 3


def test_an_email_needs_a_subject_and_every_message_a_body():
    assert template_errors(subject=" ", body=" ", channel="email") == [
        "Subject: An email needs a subject.",
        "Body: Write the message.",
    ]
    assert template_errors(subject="", body="Hi", channel="sms") == []


def test_a_template_is_checked_when_saved():
    template = TemplateFactory.build(body="Hello {{ customer.orders.all }}", subject="")

    with pytest.raises(ValidationError) as raised:
        template.full_clean()

    assert set(raised.value.message_dict) == {"subject", "body"}
    assert "customer.orders.all" in raised.value.message_dict["body"][0]


def test_loyalty_of_a_customer_in_several_programs_is_the_active_programs_richest_account(
    assert_queries,
):
    customer, other, without = CustomerFactory(), CustomerFactory(), CustomerFactory()
    old = LoyaltyProgramFactory(is_active=False)
    current = LoyaltyProgramFactory(is_active=True)
    second = LoyaltyProgramFactory(is_active=True)
    silver = TierFactory(program=current, name="Silver")
    LoyaltyAccountFactory(customer=customer, program=old, balance=9000)
    LoyaltyAccountFactory(customer=customer, program=current, balance=300, tier=silver)
    LoyaltyAccountFactory(customer=customer, program=second, balance=100)
    LoyaltyAccountFactory(customer=other, program=old, balance=50)

    with assert_queries(1):
        contexts = customer_contexts([customer, other, without])

    assert contexts[customer.pk]["loyalty"] == {"balance": 300, "tier": "Silver"}
    assert contexts[other.pk]["loyalty"] == {"balance": 50, "tier": ""}
    assert contexts[without.pk]["loyalty"] == {"balance": 0, "tier": ""}


def test_a_compiled_message_renders_many_customers_without_queries(assert_queries):
    customers = CustomerFactory.create_batch(3)
    contexts = customer_contexts(customers)
    message = CompiledMessage(subject="Hi {{ customer.first_name }}", body="{{ shop_name }}")

    with assert_queries(0):
        rendered = [message.render(contexts[c.pk]) for c in customers]

    assert [subject for subject, _ in rendered] == [f"Hi {c.first_name}" for c in customers]


@pytest.mark.parametrize(
    ("body", "encoding", "characters", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("Café ÄÖÜ £5 @home", "GSM-7", 17, 1),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("{}[]~|^\\", "GSM-7", 16, 1),
        # An extension character's two septets are never split between parts: 152 + € = 154
        # does not fit the first part of 153, so it starts the second.
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("ł" * 70, "UCS-2", 70, 1),
        ("ł" * 71, "UCS-2", 71, 2),
        ("ł" * 134, "UCS-2", 134, 2),
        ("ł" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),
        ("😀" * 36, "UCS-2", 72, 2),
        ("Привет", "UCS-2", 6, 1),
    ],
)
def test_sms_length(body, encoding, characters, segments):
    length = sms_length(body)

    assert (length.encoding, length.characters, length.segments) == (
        encoding,
        characters,
        segments,
    )
