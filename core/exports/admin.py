"""The admin's exports: the library's export view (the whole filtered changelist) and an
"Export selected" action, in the formula-safe CSV and XLSX formats, CSV streamed."""

from django.core.exceptions import PermissionDenied
from import_export.admin import ExportActionMixin
from import_export.signals import post_export

from core.exports.formats import EXPORT_FORMATS, SafeCSV, SafeXLSX
from core.exports.streaming import (
    csv_streaming_response,
    queryset_with_related,
    resource_csv,
    resource_rows,
    xlsx_response,
)


class CrmExportMixin(ExportActionMixin):
    """Export for a CRM admin. The formats are settings.EXPORT_FORMATS (SafeCSV, SafeXLSX). A
    CSV export is streamed from an iterator over the queryset in chunks (flat memory, a constant
    number of queries per chunk), or written by PostgreSQL where the resource offers its SELECT
    (``export_sql``: customers); XLSX is written from the same chunks into a temporary file, a
    row at a time, then sent from it."""

    export_formats = EXPORT_FORMATS

    def has_export_permission(self, request) -> bool:
        """Exporting shows every row: it takes the permission to view them."""
        return self.has_view_permission(request) and super().has_export_permission(request)

    def get_valid_export_item_pks(self, request):
        """The rows chosen with "Export selected" that the user may export: only those posted,
        not every key of the table (the library's default lists them all)."""
        chosen = [pk for pk in request.POST.getlist("export_items") if pk.isdecimal()]
        return self.get_queryset(request).filter(pk__in=chosen).values_list("pk", flat=True)

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        resource_class = self.choose_export_resource_class(export_form, request)
        resource = resource_class(**self.get_export_resource_kwargs(request))
        queryset = queryset_with_related(resource, queryset)
        if not isinstance(file_format, SafeCSV | SafeXLSX):
            return super()._do_file_export(file_format, request, queryset, export_form)
        if not self.has_export_permission(request):
            raise PermissionDenied
        export_fields = self.get_export_resource_fields_from_form(export_form)
        filename = self.get_export_filename(request, queryset, file_format)
        if isinstance(file_format, SafeXLSX):
            response = xlsx_response(resource_rows(resource, queryset, export_fields), filename)
        else:
            response = csv_streaming_response(
                (), filename, lines=resource_csv(resource, queryset, export_fields)
            )
        post_export.send(sender=None, model=self.model)
        return response
