from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_delete

from core.roles import ALL, LOYALTY_MANAGERS, MANAGERS, MARKETING, SUPPORT

VIEW = ("view_segment", "view_segmentmembership", "view_bulkaction")


class SegmentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "segments"
    roles = {
        MARKETING: (
            "view_segment",
            "add_segment",
            "change_segment",
            "delete_segment",
            "view_segmentmembership",
            "add_segmentmembership",
            "change_segmentmembership",
            "delete_segmentmembership",
            "view_bulkaction",
        ),
        SUPPORT: VIEW,
        LOYALTY_MANAGERS: VIEW,
        MANAGERS: (ALL,),
    }

    def ready(self):
        from customers.signals import analytics_run_finished
        from segments import receivers
        from segments.fields import register_customer_fields
        from segments.models import Segment
        from segments.panels import register_segments_panel
        from segments.prebuilt import segments_prebuilt_after_migrate

        register_customer_fields()
        register_segments_panel()
        post_migrate.connect(
            segments_prebuilt_after_migrate, sender=self, dispatch_uid="segments_prebuilt"
        )
        pre_delete.connect(
            receivers.segment_deleting, sender=Segment, dispatch_uid="segments_segment_deleting"
        )
        analytics_run_finished.connect(
            receivers.analytics_run_finished, dispatch_uid="segments_analytics_run_finished"
        )
