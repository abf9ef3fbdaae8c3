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
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from import_export.admin import ImportMixin
from import_export.forms import ConfirmImportForm, ImportForm

from core.exports.admin import CrmExportMixin
from core.imports import errors
from core.imports.formats import IMPORT_FORMATS
from core.imports.reading import ImportFileError
from core.jobs.services import import_job_create, import_job_wanted
from core.models import ImportJob

KEEP_VALID_LABEL = "Import the valid rows and give me the rest back"
IN_BACKGROUND_LABEL = "Run in the background"
# How many problems the preview lists as messages above the table (the table has them all).
PROBLEMS_SHOWN = 50


class CrmImportForm(ImportForm):
    keep_valid_rows = forms.BooleanField(
        label=KEEP_VALID_LABEL,
        required=False,
        help_text="Rows with errors are left out and sent back to you as a CSV with an error "
        "column; without this, a file with any error imports nothing.",
    )
    in_background = forms.BooleanField(
        label=IN_BACKGROUND_LABEL,
        required=False,
        help_text="The import runs as a job whose page shows its progress; you need not wait. "
        "A file of more rows than the shop's threshold always runs so.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("keep_valid_rows") and cleaned.get("in_background"):
            self.add_error(
                "in_background",
                "A background import is all or nothing, so it cannot keep the valid rows "
                "apart: untick one of the two.",
            )
        return cleaned


class CrmConfirmImportForm(ConfirmImportForm):
    keep_valid_rows = forms.BooleanField(required=False, widget=forms.HiddenInput())
    in_background = forms.BooleanField(required=False, widget=forms.HiddenInput())


class CrmImportMixin(ImportMixin):
    import_form_class = CrmImportForm
    confirm_form_class = CrmConfirmImportForm
    import_formats = IMPORT_FORMATS
    import_error_display = ("message", "row")
    # The library's page, its rows in error numbered as the messages number them.
    import_template_name = "admin/import_export/crm_import.html"

    def has_import_permission(self, request) -> bool:
        """Importing adds rows and changes them: it takes both permissions."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_import_formats(self):
        return [f for f in self.import_formats if f().can_import()]

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["keep_valid_rows"] = import_form.cleaned_data.get("keep_valid_rows", False)
            initial["in_background"] = import_form.cleaned_data.get("in_background", False)
        return initial

    def add_data_read_fail_error_to_form(self, form, e):
        if isinstance(e, ImportFileError):
            form.add_error("import_file", str(e))
        else:
            super().add_data_read_fail_error_to_form(form, e)

    def import_action(self, request, **kwargs):
        if request.method == "POST" and self.has_import_permission(request):
            big_file_page = self.import_big_file_preview(request, **kwargs)
            if big_file_page is not None:
                return big_file_page
        response = self.import_preview(request, **kwargs)
        confirm_form = (getattr(response, "context_data", None) or {}).get("confirm_form")
        if confirm_form is not None and confirm_form.initial.get("in_background"):
            messages.info(
                request,
                "When you confirm, the import runs in the background: its page shows how far "
                "it has come.",
            )
        return response

    def import_big_file_preview(self, request, **kwargs):
        """A file of more rows than CRM_IMPORT_JOB_THRESHOLD is not tried while the browser
        waits: the page says it will run as a job and asks for the confirmation, which starts
        it (``process_dataset``). None for any other file (the usual dry-run preview)."""
        form = self.create_import_form(request)
        if not form.is_valid():
            return None
        input_format = self.get_import_formats()[int(form.cleaned_data["format"])]()
        import_file = form.cleaned_data["import_file"]
        try:
            dataset = input_format.create_dataset(b"".join(import_file.chunks()))
        except Exception:  # noqa: BLE001 - the usual preview says what is wrong with the file
            return None
        rows = len(dataset)
        if not import_job_wanted(rows=rows):
            return None
        context = {
            **self.get_import_context_data(),
            **self.admin_site.each_context(request),
            "title": "Import",
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
            "fields_list": [],
            "import_error_display": self.import_error_display,
        }
        if form.cleaned_data.get("keep_valid_rows"):
            form.add_error(
                "keep_valid_rows",
                f"This file has {rows:,} rows, more than {settings.CRM_IMPORT_JOB_THRESHOLD:,}: "
                "it runs in the background, all or nothing, so the valid rows cannot be kept "
                "apart. Untick this to import it.",
            )
        else:
            import_file.tmp_storage_name = self.write_to_tmp_storage(import_file, input_format).name
            form.cleaned_data["in_background"] = True
            context["confirm_form"] = self.create_confirm_form(request, import_form=form)
            messages.info(
                request,
                f"This file has {rows:,} rows, more than {settings.CRM_IMPORT_JOB_THRESHOLD:,}: "
                "when you confirm, it is imported in the background, all or nothing. Its page "
                "shows how far it has come, and lists the errors if there are any.",
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def import_preview(self, request, **kwargs):
        """The library's upload step (a dry run), with every problem said by row and column."""
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
        if import_job_wanted(rows=len(dataset), asked=form.cleaned_data.get("in_background")):
            return self.import_job_start(dataset, form, request, **kwargs)
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

    def import_job_start(self, dataset, form, request, **kwargs) -> ImportJob:
        """Hand the file, as it was read for the preview, to an import job."""
        resource = self.choose_import_resource_class(form, request)
        file_name = kwargs.get("file_name") or form.cleaned_data.get("original_file_name") or ""
        return import_job_create(
            user=request.user,
            file_name=file_name or "import.csv",
            # Written again as UTF-8 with commas: the job reads what the preview read.
            data=dataset.export("csv").encode("utf-8"),
            resource=f"{resource.__module__}.{resource.__qualname__}",
            input_format="csv",
            encoding="utf-8",
        )

    def process_result(self, result, request):
        if isinstance(result, ImportJob):
            return self.import_job_response(result, request)
        if result.has_errors() or result.has_validation_errors():
            # Rolled back: say why, never "Import finished".
            return self.import_refused_response(result, request)
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

    def import_refused_response(self, result, request):
        """Back to the upload form with the problems that stopped the import."""
        problems = self.get_import_resource_classes(request)[0]().problems(result)
        messages.error(request, "Nothing was imported:")
        for problem in problems[:PROBLEMS_SHOWN]:
            messages.error(request, str(problem))
        if len(problems) > PROBLEMS_SHOWN:
            messages.error(request, f"… and {len(problems) - PROBLEMS_SHOWN} more problems.")
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import")
        )

    def import_job_response(self, job: ImportJob, request):
        """To the job's page (its progress bar), or back to the list for a user who may not see
        import jobs."""
        messages.success(
            request,
            f"The import of {job.file_name} has started in the background (import job {job.pk}).",
        )
        if request.user.has_perm("core.view_importjob"):
            return HttpResponseRedirect(reverse("admin:core_importjob_change", args=[job.pk]))
        return HttpResponseRedirect(
            reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        )


class CrmImportExportMixin(CrmImportMixin, CrmExportMixin):
    """Import (above) and the CRM's export: the whole filtered list or the selected rows, CSV
    streamed and XLSX, every cell made safe for a spreadsheet (core.exports)."""

    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
