"""Import (and export) in a CRM admin.

Use it before ``admin.ModelAdmin`` with the app's resources::

    @admin.register(Tag)
    class TagAdmin(CrmImportExportMixin, admin.ModelAdmin):
        resource_classes = [TagResource]

The changelist gets Import and Export buttons and the library's views at
``<changelist>/import/`` and ``<changelist>/export/``. Import is two steps: the upload is read
(``core.imports.reading``: the encoding detected or chosen as the format, the delimiter sniffed)
and imported as a dry run whose preview lists each row as new, updated, skipped (unchanged) or in
error, with every problem also said as "row 17, email: …"; then Confirm imports it in one
transaction. A file with errors imports nothing, unless the user ticked "Import the valid rows
and give me the rest back": then the confirmation imports the valid rows and answers with a CSV
of the rejected rows, each with an ``error`` column.
"""

import csv
import io

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header
from import_export.admin import ImportMixin
from import_export.forms import ConfirmImportForm, ImportForm

from core.exports.admin import CrmExportMixin
from core.imports import errors
from core.imports.formats import IMPORT_FORMATS
from core.imports.reading import ImportFileError

KEEP_VALID_LABEL = "Import the valid rows and give me the rest back"
# How many problems the preview lists as messages above the table (the table has them all).
PROBLEMS_SHOWN = 50


class CrmImportForm(ImportForm):
    keep_valid_rows = forms.BooleanField(
        label=KEEP_VALID_LABEL,
        required=False,
        help_text="Rows with errors are left out and sent back to you as a CSV with an error "
        "column; without this, a file with any error imports nothing.",
    )


class CrmConfirmImportForm(ConfirmImportForm):
    keep_valid_rows = forms.BooleanField(required=False, widget=forms.HiddenInput())


class CrmImportMixin(ImportMixin):
    import_form_class = CrmImportForm
    confirm_form_class = CrmConfirmImportForm
    import_formats = IMPORT_FORMATS
    import_error_display = ("message", "row")

    def has_import_permission(self, request) -> bool:
        """Importing adds rows and changes them: it takes both permissions."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_import_formats(self):
        return [f for f in self.import_formats if f().can_import()]

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["keep_valid_rows"] = import_form.cleaned_data.get("keep_valid_rows", False)
        return initial

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportFileError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None)
        result = (context or {}).get("result")
        if not isinstance(response, TemplateResponse) or result is None:
            return response
        resource = self.choose_import_resource_class(context["form"], request)(
            **self.get_import_resource_kwargs(request, form=context["form"])
        )
        problems = resource.problems(result)
        context["import_problems"] = problems
        for problem in problems[:PROBLEMS_SHOWN]:
            messages.error(request, str(problem))
        if len(problems) > PROBLEMS_SHOWN:
            messages.error(request, f"… and {len(problems) - PROBLEMS_SHOWN} more problems.")
        form = context["form"]
        if (
            problems
            and not result.has_errors()
            and form.is_valid()
            and form.cleaned_data.get("keep_valid_rows")
        ):
            context["confirm_form"] = self.create_confirm_form(request, import_form=form)
            messages.warning(
                request,
                f"{len(result.invalid_rows)} row(s) will be left out and given back to you "
                "as a CSV when you confirm.",
            )
        return response

    def process_dataset(self, dataset, form, request, **kwargs):
        if not form.cleaned_data.get("keep_valid_rows"):
            return super().process_dataset(dataset, form, request, **kwargs)
        original_headers = list(dataset.headers)
        rows = [list(row) for row in dataset]
        resource = self.choose_import_resource_class(form, request)(
            **self.get_import_resource_kwargs(request, form=form, **kwargs)
        )
        trial = resource.import_data(dataset, dry_run=True, user=request.user)
        rejected = {}
        for problem in resource.problems(trial):
            if problem.row is None:  # the file as a whole: nothing is imported
                return super().process_dataset(dataset, form, request, **kwargs)
            rejected.setdefault(problem.row, []).append(str(problem))
        dataset.headers = original_headers
        del dataset[0 : len(dataset)]
        for index, row in enumerate(rows, 1):
            if errors.file_row(index) not in rejected:
                dataset.append(row)
        request.crm_rejected_rows = (original_headers, rows, rejected)
        return super().process_dataset(dataset, form, request, **kwargs)

    def process_result(self, result, request):
        response = super().process_result(result, request)
        rejected = getattr(request, "crm_rejected_rows", None)
        if not rejected:
            return response
        from core.exports.cells import cell_text  # the one formula-escaping rule of exports

        headers, rows, problems = rejected
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([*headers, "error"])
        for index, row in enumerate(rows, 1):
            found = problems.get(errors.file_row(index))
            if found:
                writer.writerow([cell_text(value) for value in (*row, "; ".join(found))])
        download = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        download["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{self.opts.model_name}-rejected-rows.csv"
        )
        return download


class CrmImportExportMixin(CrmImportMixin, CrmExportMixin):
    """Import (above) and the CRM's export: the whole filtered list or the selected rows, CSV
    streamed and XLSX, every cell made safe for a spreadsheet (core.exports)."""

    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
