"""The refresh after the nightly analytics run (through customers' analytics_run_finished
signal), the task itself, the management command, and the roles the app declares."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.analytics.run import analytics_upkeep
from customers.models import AnalyticsRun
from customers.signals import analytics_run_finished
from customers.tests.factories import CustomerFactory
from segments.models import Segment
from segments.tasks import segments_refresh
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db


def run(status) -> AnalyticsRun:
    return AnalyticsRun.objects.create(as_of=timezone.localdate(), status=status)


def counted() -> bool:
    return not Segment.objects.filter(member_count__isnull=True).exists()


def test_segments_are_counted_after_a_successful_nightly_run(django_capture_on_commit_callbacks):
    CustomerFactory()
    assert not counted()

    with django_capture_on_commit_callbacks(execute=True):
        analytics_upkeep(run(AnalyticsRun.Status.SUCCEEDED))

    assert counted()
    assert Segment.objects.get(system_key="never-ordered").member_count == 1


def test_a_run_that_failed_counts_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        analytics_upkeep(run(AnalyticsRun.Status.FAILED))

    assert not Segment.objects.filter(member_count__isnull=False).exists()


def test_the_refresh_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        analytics_run_finished.send(sender=AnalyticsRun, run=None)

    assert not counted()
    assert len(callbacks) == 1
    callbacks[0]()
    assert counted()


def test_the_task_has_a_fixed_name_and_counts_every_segment():
    SegmentFactory()

    result = segments_refresh.delay().get()

    assert segments_refresh.name == "segments.segments_refresh"
    assert set(result) == set(Segment.objects.values_list("slug", flat=True))
    assert counted()


def test_the_command_counts_all_or_the_named_segments(capsys):
    call_command("segments_refresh", "vip")
    assert Segment.objects.get(slug="vip").member_count == 0
    assert Segment.objects.filter(member_count__isnull=True).count() == 7

    call_command("segments_refresh")
    assert counted()
    assert "8 segments counted." in capsys.readouterr().out

    with pytest.raises(CommandError, match="No segment with the slug nope"):
        call_command("segments_refresh", "nope")


@pytest.mark.parametrize(
    ("group", "codenames"),
    [
        (
            "Marketing",
            {
                "add_segment",
                "change_segment",
                "delete_segment",
                "view_segment",
                "add_segmentmembership",
                "change_segmentmembership",
                "delete_segmentmembership",
                "view_segmentmembership",
                "view_bulkaction",
            },
        ),
        ("Support", {"view_segment", "view_segmentmembership", "view_bulkaction"}),
        ("Loyalty managers", {"view_segment", "view_segmentmembership", "view_bulkaction"}),
        (
            "Managers",
            {
                f"{action}_{model}"
                for action in ("add", "change", "delete", "view")
                for model in ("segment", "segmentmembership", "bulkaction")
            },
        ),
    ],
)
def test_roles(group, codenames):
    granted = Group.objects.get(name=group).permissions.filter(content_type__app_label="segments")

    assert set(granted.values_list("codename", flat=True)) == codenames
