import factory
from django.utils import timezone

from communications.models import (
    Campaign,
    Channel,
    Communication,
    Direction,
    Purpose,
    Template,
    Ticket,
)
from customers.tests.factories import CustomerFactory
from segments.tests.factories import SegmentFactory


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template

    name = factory.Sequence(lambda n: f"Template {n}")
    channel = Channel.EMAIL
    purpose = Purpose.MARKETING
    subject = "News from {{ shop_name }}"
    body = "Hello {{ customer.first_name }}, we have news for you."


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Channel.EMAIL
    purpose = Purpose.MARKETING
    subject = "Spring sale"
    body = "Hello {{ customer.first_name }}, the spring sale starts today."
    segment = factory.SubFactory(SegmentFactory)


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")


class CommunicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Communication

    customer = factory.SubFactory(CustomerFactory)
    channel = Channel.EMAIL
    direction = Direction.OUTBOUND
    purpose = Purpose.MARKETING
    subject = "Hello"
    body = "A message."
    status = Communication.Status.QUEUED
    occurred_at = factory.LazyFunction(timezone.now)
    queued_at = factory.LazyFunction(timezone.now)
