"""Segments in and out of CSV and XLSX, their rules as one JSON column.

A segment is known by its name. Its rules are validated as everywhere else (segments/rules.py):
a row whose rules do not compile is refused with the rule's own message. Pre-built segments may
have their rules changed by an import, as in the admin, and are never created by one.
"""

from import_export import fields, widgets

from core.imports.resources import CrmResource
from segments.models import Segment


class SegmentResource(CrmResource):
    rules = fields.Field(attribute="rules", column_name="rules", widget=widgets.JSONWidget())
    is_system = fields.Field(attribute="is_system", column_name="pre-built", readonly=True)

    class Meta:
        model = Segment
        fields = ("name", "slug", "description", "rules", "is_system")
        import_id_fields = ("name",)

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        if instance.rules is None:  # an empty cell: no rule, the manual members only
            instance.rules = {}
