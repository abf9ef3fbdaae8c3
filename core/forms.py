"""Showing a service's ValidationError to a person, the same way on every page and admin screen."""

from django.core.exceptions import ValidationError
from django.forms import BaseForm


def error_text(error: ValidationError) -> str:
    """All of an error's messages as one sentence, for a flash message or an admin message."""
    return " ".join(error.messages)


def form_add_service_error(form: BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on the form fields it names; what names no field of the
    form (or names none) goes on the form itself, so nothing is lost and nothing raises."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, field_errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, field_errors)


def form_labelled_errors(form: BaseForm) -> list[tuple[str, str]]:
    """A bound form's errors as (the field's label, message) pairs, the label blank for an error
    of the whole form: what a list page shows when its filters are refused."""
    return [
        (form.fields[name].label if name in form.fields else "", message)
        for name, messages in form.errors.items()
        for message in messages
    ]


def form_errors_text(form: BaseForm) -> str:
    """A bound form's errors as "Label: message" sentences, for a page that shows them in a
    flash message instead of beside the fields."""
    parts = []
    for name, messages in form.errors.items():
        field = form.fields.get(name)
        label = (field.label or name.replace("_", " ").capitalize()) if field else ""
        parts.extend(f"{label}: {message}" if label else message for message in messages)
    return " ".join(parts)
