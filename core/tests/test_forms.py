from django import forms
from django.core.exceptions import ValidationError

from core.forms import error_text, form_add_service_error, form_errors_text


class NoteForm(forms.Form):
    body = forms.CharField()
    follow_up_on = forms.DateField(required=False, label="Follow up on")


def test_a_service_error_lands_on_the_fields_it_names_and_the_rest_on_the_form():
    form = NoteForm({"body": "Call back"})
    assert form.is_valid()

    form_add_service_error(
        form,
        ValidationError({"follow_up_on": "Pick a day from today on.", "customer": "Inactive."}),
    )

    assert form.errors["follow_up_on"] == ["Pick a day from today on."]
    assert form.non_field_errors() == ["Inactive."]


def test_a_plain_service_error_goes_on_the_form():
    form = NoteForm({"body": "Call back"})
    form.is_valid()

    form_add_service_error(form, ValidationError("The customer is inactive."))

    assert form.non_field_errors() == ["The customer is inactive."]


def test_errors_as_text_name_the_field():
    form = NoteForm({"body": "", "follow_up_on": "soon"})
    form.is_valid()

    text = form_errors_text(form)

    assert "Body: This field is required." in text
    assert "Follow up on: Enter a valid date." in text
    assert error_text(ValidationError(["One.", "Two."])) == "One. Two."
