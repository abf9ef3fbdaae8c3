"""Receivers of the segments app, connected in SegmentsConfig.ready()."""

from django.core.exceptions import ValidationError

from segments.models import system_segment_message


def analytics_run_finished(sender, run=None, **kwargs) -> None:
    """The nightly scores are in: count every segment again, after the commit."""
    from segments.tasks import segments_refresh

    segments_refresh.delay_on_commit()


def segment_deleting(sender, instance, **kwargs) -> None:
    """Safety net for deletes that skip Segment.delete() (a queryset delete, an admin action)."""
    if instance.is_system:
        raise ValidationError(system_segment_message(instance.name), code="system_segment")
