import codecs
from datetime import date

import phonenumbers
import pytest
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber

from core.imports import reading
from core.imports.reading import ImportFileError, read_csv
from core.imports.widgets import BooleanWidget, DateWidget, EmailWidget, PhoneWidget

ROWS = "First Name,Email\r\nAna,ana@example.com\r\nZoë,zoe@example.com\r\n"


@pytest.mark.parametrize(
    "data",
    [
        ROWS.encode("utf-8"),
        codecs.BOM_UTF8 + ROWS.encode("utf-8"),
        ROWS.encode("utf-16"),
        ROWS.encode("utf-16-le"),
        ROWS.encode("cp1252"),
        ROWS.replace(",", ";").encode(),
        ROWS.replace(",", "\t").encode(),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16-no-bom", "cp1252", "semicolon", "tab"],
)
def test_read_csv_reads_each_encoding_and_delimiter(data):
    dataset = read_csv(data)

    assert dataset.headers == ["First Name", "Email"]
    assert [row[0] for row in dataset] == ["Ana", "Zoë"]


def test_read_csv_with_the_encoding_chosen():
    dataset = read_csv(ROWS.encode("cp1252"), "cp1252")

    assert dataset[1][0] == "Zoë"


def test_read_csv_keeps_quoted_line_breaks_and_trims_headers():
    data = b' Name ,Note\r\nAna,"line one\nline two; still, one value"\r\n'

    dataset = read_csv(data)

    assert dataset.headers == ["Name", "Note"]
    assert dataset[0][1] == "line one\nline two; still, one value"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"   \r\n", "The file is empty."),
        (b"name,email\r\n", "header row but no data rows"),
        (b"PK\x03\x04\x14\x00binary", "not a CSV file"),
        (b"%PDF-1.4 something", "not a CSV file"),
        (b"a,b\r\n1,2,3\r\n", "row 2: 3 values but the header has 2 columns"),
        (b"a,A\r\n1,2\r\n", "appears twice"),
    ],
)
def test_read_csv_refuses_what_it_cannot_read(data, message):
    with pytest.raises(ImportFileError, match=message):
        read_csv(data)


def test_read_csv_refuses_a_huge_field(settings):
    settings.CRM_IMPORT_MAX_FIELD_LENGTH = 1000
    data = b"name,note\r\nAna,short\r\nBen," + b"x" * 5000 + b"\r\n"

    with pytest.raises(ImportFileError, match="row 3: a value is longer than 1,000 characters"):
        read_csv(data)


def test_read_csv_refuses_bytes_the_chosen_encoding_lacks():
    with pytest.raises(ImportFileError, match="cannot be read as UTF-8"):
        read_csv("name\r\nZoë\r\n".encode("cp1252"), "utf-8")


@pytest.mark.parametrize(
    ("text", "value"),
    [("yes", True), ("NO", False), ("True", True), ("false", False), ("1", True), ("0", False)],
)
def test_boolean_widget(text, value):
    assert BooleanWidget().clean(text) is value


def test_boolean_widget_refuses_other_words():
    with pytest.raises(ValueError, match="'maybe' is not yes or no"):
        BooleanWidget().clean("maybe")


def test_date_widget_reads_iso_and_the_shop_format(settings):
    settings.CRM_IMPORT_DATE_FORMAT = "%d/%m/%Y"

    assert DateWidget().clean("2024-03-31") == date(2024, 3, 31)
    assert DateWidget().clean("31/03/2024") == date(2024, 3, 31)
    with pytest.raises(ValueError, match=r"'31\.03\.2024' is not a date"):
        DateWidget().clean("31.03.2024")


def test_phone_widget_gives_e164_with_the_default_region(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"

    assert PhoneWidget().clean("(415) 555-0123").as_e164 == "+14155550123"
    assert PhoneWidget().clean("+44 20 7946 0958").as_e164 == "+442079460958"
    with pytest.raises(ValueError, match="'12' is not a valid phone number"):
        PhoneWidget().clean("12")


def test_email_widget():
    assert EmailWidget().clean(" Ana@Example.COM ") == "ana@example.com"
    with pytest.raises(ValueError, match="'bob@' is not a valid email address"):
        EmailWidget().clean("bob@")


@pytest.mark.parametrize(
    ("region", "text", "e164"),
    [
        ("US", "(416) 967-1111", "+14169671111"),  # Toronto: +1, but Canada's
        ("US", "+1 268 464 1234", "+12684641234"),  # Antigua and Barbuda
        ("GB", "01534 496 000", "+441534496000"),  # Jersey: +44, but not Britain's
        ("GB", "020 7946 0958", "+442079460958"),
    ],
)
def test_phone_widget_takes_numbers_of_every_region_sharing_the_code(settings, region, text, e164):
    settings.PHONENUMBER_DEFAULT_REGION = region

    number = PhoneWidget().clean(text)

    assert number.as_e164 == e164
    assert number.is_valid() and phonenumbers.is_valid_number(number)


def test_phone_widget_refuses_a_number_no_region_has(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"

    with pytest.raises(ValueError, match="is not a valid phone number"):
        PhoneWidget().clean("+1 999 555 0123")


def test_a_checked_number_compares_as_the_parent_does(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    checked = PhoneWidget().clean("(415) 555-0123")
    plain = PhoneNumber.from_string("+14155550123")

    assert checked == plain and plain == checked
    assert checked == "+1 415 555 0123" and checked == "(415) 555-0123"
    assert checked != PhoneNumber.from_string("+14155550124")
    assert checked not in ("", None, [], (), {})
    assert checked != 14155550123
    assert hash(checked) == hash(plain)


def test_email_widget_refuses_an_address_longer_than_the_column():
    widget = EmailWidget(max_length=30)
    address = "a" * 20 + "@example.com"

    with pytest.raises(ValueError, match=f"'{address}' is longer than 30 characters"):
        widget.clean(address)
    assert widget.clean("ana@example.com") == "ana@example.com"


def test_a_widget_covers_a_field_only_when_it_checks_all_the_field_checks():
    email = models.EmailField(max_length=254, blank=True)

    assert EmailWidget(max_length=254).covers(email)
    assert not EmailWidget(max_length=254).covers(models.EmailField(max_length=254))  # not blank
    assert not EmailWidget().covers(email)
    assert not EmailWidget(max_length=254).covers(
        models.EmailField(max_length=254, blank=True, validators=[lambda value: None])
    )
    assert PhoneWidget().covers(PhoneNumberField(blank=True))
    assert not PhoneWidget().covers(PhoneNumberField(blank=True, max_length=12))
    assert not PhoneWidget().covers(PhoneNumberField())
    assert not PhoneWidget().covers(models.CharField(max_length=128))


def test_read_csv_decodes_a_chunk_at_a_time_and_names_the_bad_byte_of_the_file(monkeypatch):
    monkeypatch.setattr(reading, "DECODE_CHUNK", 5)  # characters split between chunks
    rows = "name,city\r\nJosé,Zürich\r\nÅsa,Malmö ✓\r\n"

    assert read_csv(rows.encode()).dict == [
        {"name": "José", "city": "Zürich"},
        {"name": "Åsa", "city": "Malmö ✓"},
    ]
    data = rows.encode() + b"Bad,\xff\r\n"
    bad = data.index(b"\xff") + 1
    with pytest.raises(ImportFileError, match=f"byte {bad} is not valid"):
        read_csv(data, encoding="utf-8")
