"""core/segment_fields.py: the registry of rule fields, and the two filter builders with their
NULL semantics (no value matches is_empty only; ne and not_in need a value)."""

from decimal import Decimal

import pytest
from django.db.models import F, Q

from core import segment_fields
from core.segment_fields import (
    CHOICE,
    INTEGER,
    NULLABLE_NUMERIC_OPERATORS,
    expression_q,
    lookup_q,
    register_segment_field,
    segment_field,
)
from customers.models import Customer
from customers.tests.factories import CustomerFactory


@pytest.fixture
def empty_registry(monkeypatch):
    monkeypatch.setattr(segment_fields, "_fields", {})


def test_fields_register_and_are_found_by_name(empty_registry):
    first = register_segment_field(
        "visits", INTEGER, "Visits", "order_count", operators=NULLABLE_NUMERIC_OPERATORS
    )
    register_segment_field("grade", CHOICE, "Grade", "status", operators=("eq",), choices=list)

    assert segment_field("visits") is first
    assert segment_field("nothing") is None
    assert [field.name for field in segment_fields.segment_fields()] == ["visits", "grade"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"type": "colour", "lookup": "x", "operators": ("eq",)}, "unknown type"),
        ({"type": INTEGER, "operators": ("eq",)}, "a lookup path or a build function"),
        (
            {"type": INTEGER, "lookup": "x", "build": lambda *a: Q(), "operators": ("eq",)},
            "a lookup path or a build function",
        ),
        ({"type": INTEGER, "lookup": "x", "operators": ("like",)}, "unknown operators"),
        ({"type": CHOICE, "lookup": "x", "operators": ("eq",)}, "needs its choices"),
    ],
)
def test_a_field_must_be_declared_completely(empty_registry, kwargs, message):
    with pytest.raises(ValueError, match=message):
        register_segment_field("bad", label="Bad", **kwargs)
    assert segment_field("bad") is None


def test_every_app_registers_its_fields_on_start():
    assert segment_field("total_spent").type == "money"
    assert segment_field("loyalty_tier") is not None  # loyalty's, not segments'


@pytest.fixture
def risks(db):
    for name, risk in (("low", 0.1), ("high", 0.9), ("none", None)):
        CustomerFactory(first_name=name)
        Customer.objects.filter(first_name=name).update(churn_risk=risk)


def names(filter_q: Q) -> set[str]:
    return set(Customer.objects.filter(filter_q).values_list("first_name", flat=True))


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 0.1, {"low"}),
        ("ne", 0.1, {"high"}),  # no value is not "not 0.1"
        ("gt", 0.5, {"high"}),
        ("lte", 0.9, {"low", "high"}),
        ("between", [0.1, 0.5], {"low"}),
        ("in", [0.1, 0.9], {"low", "high"}),
        ("not_in", [0.9], {"low"}),
        ("is_empty", None, {"none"}),
        ("is_not_empty", None, {"low", "high"}),
    ],
)
def test_lookup_and_expression_filters_agree_on_nulls(risks, op, value, expected):
    assert names(lookup_q("churn_risk", op, value)) == expected
    assert names(expression_q(F("churn_risk"), op, value)) == expected


def test_a_blank_text_counts_as_no_value(db):
    CustomerFactory(first_name="blank", company="")
    CustomerFactory(first_name="acme", company="Acme")

    assert names(lookup_q("company", "is_empty", None, blank=True)) == {"blank"}
    assert names(lookup_q("company", "ne", "Other", blank=True)) == {"acme"}
    assert names(lookup_q("company", "ne", "Other")) == {"acme", "blank"}


def test_money_compares_as_decimal(db):
    CustomerFactory(first_name="cent")
    Customer.objects.filter(first_name="cent").update(total_spent=Decimal("0.10"))

    assert names(lookup_q("total_spent", "eq", Decimal("0.1"))) == {"cent"}
