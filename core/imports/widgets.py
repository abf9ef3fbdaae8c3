"""Widgets that read values the way shops write them in spreadsheets. Each raises ValueError
with a message that names the value ("'bob@' is not a valid email address"); the resource adds
the row and the column."""

import re
from datetime import date, datetime

import phonenumbers
from django.conf import settings
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models
from import_export import widgets
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0"})


class TextWidget(widgets.CharWidget):
    """Text, trimmed."""

    def clean(self, value, row=None, **kwargs):
        text = super().clean(value, row, **kwargs)
        return text.strip() if isinstance(text, str) else text


class BooleanWidget(widgets.BooleanWidget):
    """yes/no, true/false, y/n, 1/0 in any letter case; blank is no value. Written as yes/no."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        word = str(value if value is not None else "").strip().casefold()
        if not word:
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"'{value}' is not yes or no (write yes/no, true/false or 1/0)")

    def render(self, value, obj=None, **kwargs):
        if kwargs.get("force_native_type"):
            return value
        return "" if value is None else ("yes" if value else "no")


class DateWidget(widgets.Widget):
    """A date as ISO (2024-03-31) or in the shop's format (``CRM_IMPORT_DATE_FORMAT``). A date
    with a time (Shopify writes some) keeps its date. Written as ISO."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value or "").strip()
        if not text:
            return None
        for candidate in (text, text[:10]):
            for pattern in ("%Y-%m-%d", settings.CRM_IMPORT_DATE_FORMAT):
                try:
                    return datetime.strptime(candidate, pattern).date()
                except ValueError:
                    continue
        example = date(2024, 3, 31).strftime(settings.CRM_IMPORT_DATE_FORMAT)
        raise ValueError(f"'{value}' is not a date (write 2024-03-31 or {example})")

    def render(self, value, obj=None, **kwargs):
        if kwargs.get("force_native_type"):
            return value
        return value.isoformat() if isinstance(value, date) else ""


def _compiled(pattern) -> re.Pattern:
    return re.compile(pattern.pattern, pattern.flags)


class EmailValidator(validators.EmailValidator):
    """Django's email rules, with its patterns compiled once: Django's are compiled lazily, and
    each use of a lazy pattern costs about a microsecond, three of them an address."""

    user_regex = _compiled(validators.EmailValidator.user_regex)
    domain_regex = _compiled(validators.EmailValidator.domain_regex)
    literal_regex = _compiled(validators.EmailValidator.literal_regex)


validate_email = EmailValidator()


class EmailWidget(TextWidget):
    """An email address, trimmed and lower-case, checked by Django's rules and, given the
    model field's ``max_length``, its length."""

    def __init__(self, *args, max_length: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_length = max_length

    def clean(self, value, row=None, **kwargs):
        text = (super().clean(value, row, **kwargs) or "").lower()
        if text:
            try:
                validate_email(text)
            except ValidationError:
                raise ValueError(f"'{value}' is not a valid email address") from None
            if self.max_length is not None and len(text) > self.max_length:
                raise ValueError(f"'{value}' is longer than {self.max_length} characters")
        return text

    def covers(self, field) -> bool:
        """Whether a value this widget gives passes every check of the model field ``field``
        (the set-based import then does not check it again: core/imports/setbased.py)."""
        return plain_field(field, models.EmailField) and field.max_length == self.max_length


def plain_field(field, field_class) -> bool:
    """Whether ``field`` is a ``field_class`` with only its own checks: blank allowed (a blank
    cell gives ""), no validators or choices of its own."""
    return (
        type(field) is field_class and field.blank and not field._validators and not field.choices
    )


class CheckedPhoneNumber(PhoneNumber):
    """A number read from a file, checked once: the model's validator, the comparisons and the
    save ask again whether it is valid, and each check costs about 0.01 ms. Compared as the
    parent compares (by the stored form), without the parent's detour through the empty values
    for each comparison: Django's checks compare a value with five of them, several times."""

    def is_valid(self):
        valid = self.__dict__.get("checked_valid")
        if valid is None:
            valid = self.checked_valid = super().is_valid()
        return valid

    def __eq__(self, other):
        if isinstance(other, PhoneNumber):
            return stored_form(self) == stored_form(other)
        if isinstance(other, str) and other:
            return super().__eq__(other)
        return False  # None, "", an empty list…: never a phone number, as for the parent

    __hash__ = PhoneNumber.__hash__


def stored_form(number: PhoneNumber) -> str:
    """A number as the database keeps it: in PHONENUMBER_DB_FORMAT when valid, else as typed."""
    if not number.is_valid():
        return number.raw_input
    return number.format_as(PhoneNumber.format_map[settings.PHONENUMBER_DB_FORMAT])


def phone_parse(value) -> PhoneNumber | None:
    """A phone number typed in a local or international format, read with the shop's region
    (``PHONENUMBER_DEFAULT_REGION``); None when blank. Raises ValueError when it is not one.

    A number valid in the shop's own region is valid: asked first, that spares looking up which
    of the regions sharing its country code it belongs to (25 share +1)."""
    text = str(value or "").strip()
    if not text:
        return None
    region = settings.PHONENUMBER_DEFAULT_REGION
    try:
        number = CheckedPhoneNumber.from_string(text, region=region)
    except phonenumbers.NumberParseException:
        raise ValueError(f"'{value}' is not a valid phone number") from None
    if phonenumbers.is_valid_number_for_region(number, region):
        number.checked_valid = True
    if not number.is_valid():
        raise ValueError(f"'{value}' is not a valid phone number")
    return number


# Longer than any valid number in any of phonenumbers' formats.
PHONE_TEXT_MAX = 32


class PhoneWidget(widgets.Widget):
    """A phone number, stored in E.164 ("+14155550123"); an extension goes with it, for the
    model to keep apart."""

    def clean(self, value, row=None, **kwargs):
        number = phone_parse(value)
        return "" if number is None else number

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        return value.as_e164 if isinstance(value, PhoneNumber) else str(value)

    def covers(self, field) -> bool:
        """As ``EmailWidget.covers``: a valid number, or nothing."""
        return plain_field(field, PhoneNumberField) and (
            field.max_length is None or field.max_length >= PHONE_TEXT_MAX
        )


class ListWidget(widgets.Widget):
    """A comma-separated list ("vip, newsletter"), trimmed, blanks and repeats dropped (in any
    letter case), in the order written."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, list | tuple):
            items = [str(item) for item in value]
        else:
            items = str(value or "").split(",")
        seen: set[str] = set()
        names = []
        for item in items:
            name = item.strip()
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                names.append(name)
        return names

    def render(self, value, obj=None, **kwargs):
        return ", ".join(value or ())
