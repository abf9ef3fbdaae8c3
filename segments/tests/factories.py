import factory

from customers.tests.factories import CustomerFactory
from segments.models import Segment, SegmentMembership


def condition(field: str, op: str, value=None) -> dict:
    return {"field": field, "op": op, "value": value}


def all_of(*conditions) -> dict:
    return {"match": "all", "conditions": list(conditions)}


def any_of(*conditions) -> dict:
    return {"match": "any", "conditions": list(conditions)}


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    slug = factory.Sequence(lambda n: f"segment-{n}")
    rules = factory.LazyFunction(lambda: all_of(condition("total_spent", "gte", 500)))


class SegmentMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SegmentMembership

    segment = factory.SubFactory(SegmentFactory)
    customer = factory.SubFactory(CustomerFactory)
