"""The rule builder: a segment's rules as rows of field, comparison and value, on a new segment's
page (/segments/build/) and an existing one's (/segments/<slug>/edit/).

With htmx, adding or removing a row and changing a row's field or comparison post the form to
``builder_rows``, which draws the rows again (so the widgets fit the field) with the count of
customers they match; typing a value posts it to ``builder_preview``, which counts again. Both
say the result in the page's live region. Without JavaScript the same buttons post the whole
page, which comes back redrawn; saving checks everything and names each problem's condition.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import number_format
from django.views import View
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from core.forms import form_add_service_error
from core.visibility import customers_visible_to
from segments import services
from segments.forms import (
    BLANK_ROW,
    MAX_CONDITIONS,
    PREFIX,
    RowsError,
    RulesCheck,
    SegmentBuilderForm,
    condition_formset,
    row_fitted,
    rows_from_data,
    rows_from_rules,
)
from segments.models import Segment
from segments.rules import rules_describe, rules_q

BUILDER_PERMISSIONS = ("segments.add_segment", "segments.change_segment")
ADD, REMOVE, REFRESH = "add_condition", "remove_condition", "refresh_rows"
# The control whose change redrew the rows (htmx's HX-Trigger-Name header), to focus it again.
ROW_CONTROL = re.compile(rf"^{PREFIX}-(\d+)-(field|op)$")
NO_CONDITION_MESSAGE = (
    "Add at least one condition: a segment without rules holds only the customers added to it "
    "by hand."
)
PROMPT = "Choose a field for each condition to count the customers who match."


def announce(response: HttpResponse, message: str) -> HttpResponse:
    """Have the page say ``message`` in its live region (static/js/a11y.js)."""
    if message:
        trigger_client_event(response, "crm:announce", message)
    return response


def may_build(user) -> bool:
    return any(user.has_perm(permission) for permission in BUILDER_PERMISSIONS)


# The count ---------------------------------------------------------------------------------


def preview(user, rows: list[dict], match: str, rows_error: str = "") -> dict:
    """What the preview shows: ``count`` of the customers ``user`` may see whom the rows'
    rules match, or the ``problems`` that keep them from being counted, or a ``prompt``."""
    if rows_error:
        return {"problems": [rows_error]}
    if not any(row["field"] for row in rows):
        return {"prompt": PROMPT if rows else "No conditions yet."}
    check = RulesCheck(match, rows)
    if not check.valid:
        return {"problems": check.problems()}
    return {"count": customers_visible_to(user).filter(rules_q(check.rules)).count()}


def preview_words(shown: dict) -> str:
    """The preview as one sentence, for the live region."""
    if "count" in shown:
        count = shown["count"]
        if count == 0:
            return "No customer matches"
        if count == 1:
            return "1 customer matches"
        return f"{number_format(count, force_grouping=True)} customers match"
    if "problems" in shown:
        problems = shown["problems"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"Not counted: {problems[0]}{more}"
    return shown["prompt"]


# Redrawing the rows --------------------------------------------------------------------------


def rows_posted(data, *, fitted: bool = False) -> tuple[list[dict], str]:
    """The posted rows, and the message when they cannot be read. ``fitted``: for drawing them
    again, each fitted to its field (a comparison the field does not take becomes its first);
    otherwise as sent, for the rules to judge."""
    try:
        rows = rows_from_data(data)
    except RowsError as error:
        return [], str(error)
    return [row_fitted(row) for row in rows] if fitted else rows, ""


def rows_changed(rows: list[dict], data) -> tuple[list[dict], str, tuple | None]:
    """Apply the button pressed (add a row, remove one): the rows, what happened in words, and
    where the focus goes: (row index, control), ("add",) for the "Add a condition" button, or
    None when no row was added or removed."""
    if ADD in data:
        if len(rows) >= MAX_CONDITIONS:
            return rows, f"A segment takes at most {MAX_CONDITIONS} conditions.", ("add",)
        return [*rows, dict(BLANK_ROW)], f"Condition {len(rows) + 1} added.", (len(rows), "field")
    index = data.get(REMOVE, "")
    if index.isdigit() and int(index) < len(rows):
        index = int(index)
        rows = rows[:index] + rows[index + 1 :]
        # The row that took its place, else (the last was removed) the button after the rows.
        focus = (index, "field") if index < len(rows) else ("add",)
        return rows, f"Condition {index + 1} removed.", focus
    return rows, "", None


def rows_context(user, rows: list[dict], match: str, rows_error: str = "", *, focus=None) -> dict:
    """The rows block's context: the rows as a formset (unbound: nothing is marked wrong while
    the user is still building), the count, and where the focus goes."""
    formset = condition_formset(rows=rows)
    if focus and focus[0] != "add" and focus[0] < len(formset.forms):
        formset.forms[focus[0]].mark_focus(focus[1])
    return {
        "formset": formset,
        "preview": preview(user, rows, match, rows_error),
        "focus_add": bool(focus) and focus[0] == "add",
        "max_conditions": MAX_CONDITIONS,
    }


@require_POST
@login_required
def builder_rows(request):
    """The rows block drawn again after a row was added or removed or a field changed."""
    if not may_build(request.user):
        raise PermissionDenied
    rows, rows_error = rows_posted(request.POST, fitted=True)
    rows, said, focus = rows_changed(rows, request.POST)
    trigger = ROW_CONTROL.match(request.headers.get("HX-Trigger-Name", ""))
    if focus is None and trigger:
        focus = (int(trigger[1]), trigger[2])
    context = rows_context(
        request.user, rows, request.POST.get("match", ""), rows_error, focus=focus
    )
    response = render(request, "segments/partials/builder_rows.html", context)
    return announce(response, " ".join(filter(None, [said, preview_words(context["preview"])])))


@require_POST
@login_required
def builder_preview(request):
    """The count of customers the posted rows match, or what keeps them from being counted."""
    if not may_build(request.user):
        raise PermissionDenied
    rows, rows_error = rows_posted(request.POST)
    shown = preview(request.user, rows, request.POST.get("match", ""), rows_error)
    response = render(request, "segments/partials/builder_preview.html", {"preview": shown})
    return announce(response, preview_words(shown))


# The pages ---------------------------------------------------------------------------------


def problem_links(form, formset, errors: list[str]) -> list[tuple[str, str]]:
    """Every problem on the page as (the id of the control it is about, the message), for the
    summary at the top."""
    links = [("", error) for error in errors]
    links += [("", str(error)) for error in form.non_field_errors()]
    for field in form:
        anchor = field.id_for_label or f"{field.auto_id}_0"  # radios: the first
        links += [(anchor, f"{field.label}: {error}") for error in field.errors]
    for number, row in enumerate(formset.forms if formset is not None else [], 1):
        links += [
            (f"condition-{number}", f"Condition {number}: {e}") for e in row.non_field_errors()
        ]
        for field in row:
            links += [(field.id_for_label, f"Condition {number}: {e}") for e in field.errors]
    return links


class RuleBuilderView(PermissionRequiredMixin, View):
    """The page of the builder; ``SegmentBuildView`` makes a segment, ``SegmentEditView``
    changes one."""

    template_name = "segments/segment_builder.html"

    def get_segment(self) -> Segment | None:
        return None

    def get(self, request, *args, **kwargs):
        segment = self.get_segment()
        rows = rows_from_rules(segment.rules) if segment else [dict(BLANK_ROW)]
        form = SegmentBuilderForm(instance=segment or Segment(), with_match=rows is not None)
        return self.page(segment, form, rows)

    def post(self, request, *args, **kwargs):
        segment = self.get_segment()
        nested = segment is not None and rows_from_rules(segment.rules) is None
        if not nested and any(key in request.POST for key in (ADD, REMOVE, REFRESH)):
            return self.redraw(segment)
        form = SegmentBuilderForm(
            request.POST, instance=segment or Segment(), with_match=not nested
        )
        if nested:  # only the name and the description: the rules are left as they are
            if form.is_valid():
                return self.save(segment, form, segment.rules)
            return self.page(segment, form, None)
        rows, rows_error = rows_posted(request.POST)
        formset = condition_formset(data=request.POST) if not rows_error else None
        check = RulesCheck(request.POST.get("match", ""), rows)
        errors = [rows_error] if rows_error else []
        if not rows_error and not rows and segment is None:
            errors.append(NO_CONDITION_MESSAGE)
        if formset is not None:
            formset.is_valid()  # the rows' own checks are none: this readies them for errors
            for index, row in enumerate(formset.forms):
                row.add_problems(check.row_errors.get(index, []))
        for message in check.errors:
            form.add_error("match" if "'match'" in message else None, message)
        if form.is_valid() and not errors and check.valid:
            return self.save(segment, form, check.rules)
        return self.page(segment, form, rows, formset=formset, errors=errors)

    def save(self, segment: Segment | None, form, rules: dict):
        values = {
            "name": form.cleaned_data["name"],
            "description": form.cleaned_data["description"],
            "rules": rules,
        }
        try:
            if segment is None:
                segment = services.segment_create(**values)
            else:
                segment = services.segment_update(segment=segment, **values)
        except ValidationError as error:
            form_add_service_error(form, error)
            return self.page(segment, form, rows_from_rules(rules))
        count = services.segment_refresh(segment)
        messages.success(
            self.request,
            f"Segment “{segment.name}” saved: {number_format(count, force_grouping=True)} "
            f"customer{'s' if count != 1 else ''} in it now.",
        )
        return redirect("segments:detail", slug=segment.slug)

    def redraw(self, segment: Segment | None):
        """Without JavaScript: the page again, with the row added or removed (or the rows
        fitted to the fields chosen), judged only when saved."""
        data = self.request.POST
        rows, rows_error = rows_posted(data, fitted=True)
        rows, _, _ = rows_changed(rows, data)
        form = SegmentBuilderForm(
            instance=segment or Segment(),
            # What was typed; a pre-built segment's name is not sent (the field is disabled).
            initial={key: data[key] for key in ("name", "description", "match") if key in data},
        )
        return self.page(segment, form, rows, errors=[rows_error] if rows_error else [])

    def page(self, segment, form, rows, *, formset=None, errors=()):
        """The page; ``rows`` None: rules that rows cannot show (groups inside)."""
        context = {"form": form, "segment": segment, "nested": rows is None}
        if segment is not None:
            context["saved_name"] = self.saved_name
            context["rules_text"] = rules_describe(self.saved_rules)
        if rows is not None:
            match = form["match"].value() or ""
            context.update(rows_context(self.request.user, rows, match))
            if formset is not None:
                context["formset"] = formset
        context["problems"] = problem_links(form, context.get("formset"), list(errors))
        return render(self.request, self.template_name, context)


class SegmentBuildView(RuleBuilderView):
    permission_required = "segments.add_segment"


class SegmentEditView(RuleBuilderView):
    permission_required = "segments.change_segment"

    def get_segment(self) -> Segment:
        if not hasattr(self, "segment"):
            self.segment = get_object_or_404(Segment, slug=self.kwargs["slug"])
            # As saved: the form and a refused save change the instance, not the page's header.
            self.saved_name, self.saved_rules = self.segment.name, self.segment.rules
        return self.segment
