"""segments/bulk.py: bulk actions on a segment's members, set-based, in batches, resumable."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from customers.models import Customer, CustomerTag, Tag, TagRemoval
from customers.tests.factories import CustomerFactory, TagFactory, UserFactory
from segments import bulk
from segments.bulk import bulk_action_run, bulk_action_start
from segments.models import BulkAction, SegmentMembership
from segments.services import segment_members_add
from segments.tests.factories import SegmentFactory, all_of, condition

pytestmark = pytest.mark.django_db

Kind = BulkAction.Kind


def spenders(*totals: str) -> list[Customer]:
    made = []
    for total in totals:
        customer = CustomerFactory()
        Customer.objects.filter(pk=customer.pk).update(total_spent=Decimal(total))
        made.append(customer)
    return made


def big_spenders_segment():
    return SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))


def tagged(tag: Tag) -> set[int]:
    return set(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))


def test_add_tag_tags_every_member_and_no_one_else():
    segment = big_spenders_segment()
    rich, richer, _poor = spenders("500", "900", "499.99")
    by_hand = CustomerFactory()
    segment_members_add(segment=segment, customers=[by_hand])
    tag, user = TagFactory(), UserFactory()

    action = bulk_action_start(segment=segment, kind=Kind.ADD_TAG, tag=tag, user=user)

    assert action.status == BulkAction.Status.SUCCEEDED
    assert action.member_count == 3 and action.changed_count == 3
    assert tagged(tag) == {rich.pk, richer.pk, by_hand.pk}
    assert set(CustomerTag.objects.filter(tag=tag).values_list("added_by", flat=True)) == {user.pk}


def test_add_tag_keeps_an_existing_tag_as_it_was_and_runs_twice_to_the_same_result():
    segment = big_spenders_segment()
    first, second = spenders("600", "700")
    tag = TagFactory()
    earlier = CustomerTag.objects.create(customer=first, tag=tag)

    action = bulk_action_start(segment=segment, kind=Kind.ADD_TAG, tag=tag, user=UserFactory())
    again = bulk_action_start(segment=segment, kind=Kind.ADD_TAG, tag=tag, user=UserFactory())

    assert action.changed_count == 1 and again.changed_count == 0
    assert tagged(tag) == {first.pk, second.pk}
    assert CustomerTag.objects.get(customer=first, tag=tag).added_at == earlier.added_at


def test_remove_tag_untags_the_members_and_records_each_removal():
    segment = big_spenders_segment()
    member, outsider = spenders("800", "10")
    tag, user = TagFactory(), UserFactory()
    for customer in (member, outsider):
        CustomerTag.objects.create(customer=customer, tag=tag)

    action = bulk_action_start(segment=segment, kind=Kind.REMOVE_TAG, tag=tag, user=user)
    again = bulk_action_start(segment=segment, kind=Kind.REMOVE_TAG, tag=tag, user=user)

    assert action.changed_count == 1 and again.changed_count == 0
    assert tagged(tag) == {outsider.pk}
    removal = TagRemoval.objects.get()
    assert (removal.customer_id, removal.tag_id, removal.removed_by_id) == (
        member.pk,
        tag.pk,
        user.pk,
    )


def test_add_to_segment_adds_the_members_by_hand_and_counts_the_target():
    segment, target = big_spenders_segment(), SegmentFactory(rules={})
    members = spenders("500", "501")
    spenders("1")
    segment_members_add(segment=target, customers=members[:1])

    action = bulk_action_start(
        segment=segment, kind=Kind.ADD_TO_SEGMENT, target_segment=target, user=UserFactory()
    )

    assert action.changed_count == 1
    assert set(target.memberships.values_list("customer_id", flat=True)) == {
        customer.pk for customer in members
    }
    target.refresh_from_db()
    assert target.member_count == 2


def test_a_selection_acts_on_the_chosen_members_only_and_never_on_others():
    segment = big_spenders_segment()
    chosen, _left, outsider = spenders("500", "600", "1")
    tag = TagFactory()

    bulk_action_start(
        segment=segment,
        kind=Kind.ADD_TAG,
        tag=tag,
        user=UserFactory(),
        customer_ids=[chosen.pk, outsider.pk],  # the outsider is not a member: left alone
    )

    assert tagged(tag) == {chosen.pk}


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"kind": Kind.ADD_TAG}, "tag", "Choose the tag."),
        ({"kind": "paint"}, "kind", "Choose an action"),
        ({"kind": Kind.ADD_TO_SEGMENT}, "target_segment", "Choose the segment"),
        ({"kind": Kind.ADD_TAG, "tag": "tag", "customer_ids": []}, "customer_ids", "Select at"),
    ],
)
def test_refusals_name_the_field(kwargs, field, message):
    segment = big_spenders_segment()
    if kwargs.get("tag") == "tag":
        kwargs["tag"] = TagFactory()

    with pytest.raises(ValidationError) as refused:
        bulk_action_start(segment=segment, user=UserFactory(), **kwargs)

    assert message in refused.value.message_dict[field][0]
    assert not BulkAction.objects.exists()


def test_adding_a_segment_to_itself_is_refused():
    segment = big_spenders_segment()

    with pytest.raises(ValidationError) as refused:
        bulk_action_start(
            segment=segment, kind=Kind.ADD_TO_SEGMENT, target_segment=segment, user=UserFactory()
        )

    assert "another segment" in refused.value.message_dict["target_segment"][0]


def test_a_large_action_goes_to_the_task_after_commit(settings, django_capture_on_commit_callbacks):
    settings.CRM_SEGMENT_BULK_INLINE_LIMIT = 2
    segment = big_spenders_segment()
    spenders("500", "600", "700")
    tag = TagFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        action = bulk_action_start(segment=segment, kind=Kind.ADD_TAG, tag=tag, user=UserFactory())
    assert action.status == BulkAction.Status.QUEUED and action.member_count == 3
    assert not tagged(tag)

    for callback in callbacks:
        callback()  # Celery runs eagerly in tests: the task does the work here

    action.refresh_from_db()
    assert action.status == BulkAction.Status.SUCCEEDED and action.percent_done == 100
    assert len(tagged(tag)) == 3


def test_each_batch_is_one_statement_whatever_the_members(settings, assert_queries):
    settings.CRM_SEGMENT_BULK_INLINE_LIMIT = 0
    segment = big_spenders_segment()
    customers = spenders(*["600"] * 30)
    settings.CRM_SEGMENT_BULK_BATCH = customers[-1].pk  # one batch covers them all
    tag, user = TagFactory(), UserFactory()
    action = BulkAction.objects.create(
        segment=segment, kind=Kind.ADD_TAG, tag=tag, created_by=user,
        last_customer_id=customers[-1].pk,
    )  # fmt: skip

    # in one transaction: lock and read the action, INSERT … SELECT, record the batch as done
    with assert_queries(7):  # savepoints of the two atomic blocks included
        bulk_action_run(action_id=action.pk)

    assert len(tagged(tag)) == 30


def test_an_interrupted_action_leaves_whole_batches_and_running_it_again_finishes_it(
    settings, monkeypatch
):
    segment = big_spenders_segment()
    customers = spenders(*["600"] * 9)
    first_id = customers[0].pk
    settings.CRM_SEGMENT_BULK_INLINE_LIMIT = 0
    settings.CRM_SEGMENT_BULK_BATCH = 3
    tag = TagFactory()
    action = BulkAction.objects.create(
        segment=segment, kind=Kind.ADD_TAG, tag=tag, created_by=UserFactory(),
        last_customer_id=customers[-1].pk, done_up_to=first_id - 1,
    )  # fmt: skip
    real_apply, calls = bulk._apply, []

    def apply_then_fail(action, customers):
        calls.append(1)
        changed = real_apply(action, customers)  # the batch's INSERT has run …
        if len(calls) == 2:
            raise ConnectionError("worker lost")  # … and its transaction is rolled back
        return changed

    monkeypatch.setattr(bulk, "_apply", apply_then_fail)
    with pytest.raises(ConnectionError):
        bulk_action_run(action_id=action.pk)

    action.refresh_from_db()
    assert action.status == BulkAction.Status.FAILED and "worker lost" in action.error
    assert action.done_up_to == first_id + 2 and action.changed_count == 3
    assert tagged(tag) == {customer.pk for customer in customers[:3]}  # the first batch, whole

    monkeypatch.setattr(bulk, "_apply", real_apply)
    finished = bulk_action_run(action_id=action.pk)
    rerun = bulk_action_run(action_id=action.pk)

    assert finished.status == rerun.status == BulkAction.Status.SUCCEEDED
    assert finished.changed_count == 9 and rerun.changed_count == 9
    assert tagged(tag) == {customer.pk for customer in customers}


def test_a_batch_limit_stops_between_batches(settings):
    segment = big_spenders_segment()
    customers = spenders(*["600"] * 4)
    settings.CRM_SEGMENT_BULK_BATCH = 2
    tag = TagFactory()
    action = BulkAction.objects.create(
        segment=segment, kind=Kind.ADD_TAG, tag=tag, created_by=UserFactory(),
        last_customer_id=customers[-1].pk, done_up_to=customers[0].pk - 1,
    )  # fmt: skip

    partway = bulk_action_run(action_id=action.pk, batches=1)

    assert partway.status == BulkAction.Status.RUNNING
    assert 0 < partway.percent_done < 100
    assert tagged(tag) == {customers[0].pk, customers[1].pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_one_action_at_once_do_each_batch_once(settings):
    segment = big_spenders_segment()
    customers = spenders(*["600"] * 40)
    settings.CRM_SEGMENT_BULK_BATCH = 5
    tag = TagFactory()
    action = BulkAction.objects.create(
        segment=segment, kind=Kind.ADD_TAG, tag=tag, created_by=UserFactory(),
        last_customer_id=customers[-1].pk, done_up_to=customers[0].pk - 1,
    )  # fmt: skip
    start, errors = threading.Barrier(2), []

    def worker():
        try:
            start.wait()
            bulk_action_run(action_id=action.pk)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    action.refresh_from_db()
    assert not errors
    assert action.status == BulkAction.Status.SUCCEEDED
    assert action.changed_count == 40  # each customer counted once: no batch done twice
    assert len(tagged(tag)) == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_removing_a_tag_while_a_person_removes_it_records_one_removal():
    segment = big_spenders_segment()
    customers = spenders(*["600"] * 30)
    tag = TagFactory()
    for customer in customers:
        CustomerTag.objects.create(customer=customer, tag=tag)
    from customers.services import customer_tag_remove

    start, errors = threading.Barrier(2), []

    def by_bulk():
        try:
            start.wait()
            bulk_action_start(segment=segment, kind=Kind.REMOVE_TAG, tag=tag, user=None)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def by_hand():
        try:
            start.wait()
            for customer in reversed(customers):
                customer_tag_remove(customer=customer, tag=tag)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=by_bulk), threading.Thread(target=by_hand)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert not tagged(tag)
    assert TagRemoval.objects.filter(tag=tag).count() == 30  # one per customer, never two
    assert not SegmentMembership.objects.exists()
