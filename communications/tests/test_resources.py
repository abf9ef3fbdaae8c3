"""The log of contacts out to a file; never in."""

import pytest

from communications.resources import CommunicationResource
from communications.tests.factories import CommunicationFactory
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_the_log_exports_in_one_query_and_is_never_imported(assert_queries):
    for number in range(3):
        CommunicationFactory(customer=CustomerFactory(external_id=f"c-{number}"), subject="=1+1")

    with assert_queries(1):
        exported = CommunicationResource().export()

    assert len(exported) == 3
    assert set(exported["customer"]) == {"c-0", "c-1", "c-2"}
    with pytest.raises(NotImplementedError):
        CommunicationResource().import_data(exported)
