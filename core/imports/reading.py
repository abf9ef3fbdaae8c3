"""Reading an uploaded CSV file the way shops export them: UTF-8 with or without a BOM, UTF-16,
Windows-1252; comma, semicolon or tab; quoted fields holding line breaks."""

import codecs
import csv
import io
import itertools
import typing
from collections.abc import Iterator

import tablib
from django.conf import settings

# Offered in the import form; "" means "detect".
ENCODINGS = {
    "": "detect",
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Western European)",
}
DELIMITERS = (",", ";", "\t")
# The first bytes of files people upload by mistake (XLSX/ZIP, PDF, old Excel, GZIP, PNG).
BINARY_SIGNATURES = (b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0", b"\x1f\x8b", b"\x89PNG")


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message says why, for the person uploading it."""


# Bytes read and decoded at a time: a file's text is read as it is imported, never held whole.
DECODE_CHUNK = 1 << 20

# An uploaded file: its bytes, or a binary file holding them (a job's, spooled to disk).
Source = bytes | typing.BinaryIO


def chunks(source: Source) -> Iterator[bytes]:
    """The bytes of ``source``, DECODE_CHUNK at a time, from the start."""
    if isinstance(source, bytes):
        view = memoryview(source)
        for start in range(0, len(source), DECODE_CHUNK):
            yield view[start : start + DECODE_CHUNK]
        return
    source.seek(0)
    while chunk := source.read(DECODE_CHUNK):
        yield chunk


def head(source: Source, size: int = 4096) -> bytes:
    return bytes(next(chunks(source), b"")[:size])


def detect_encoding(source: Source) -> str:
    """The encoding of ``source``: a BOM decides, then UTF-16 without one (many NUL bytes),
    then UTF-8 when it decodes, else Windows-1252."""
    sample = head(source)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.count(b"\x00") > len(sample) // 4:
        return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    try:
        for _ in decoded_chunks(source, "utf-8"):
            pass
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def decoded_chunks(source: Source, encoding: str) -> Iterator[str]:
    """The text of ``source``, a chunk at a time. A UnicodeDecodeError's ``start`` is the
    offset of the bad byte in the file."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    for chunk in itertools.chain(chunks(source), [b""]):
        pending = len(decoder.getstate()[0])  # bytes of a character the last chunk split
        try:
            yield decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            error.start += offset - pending
            raise
        offset += len(chunk)


def file_encoding(source: Source, encoding: str = "") -> str:
    """The codec to read an uploaded file with: ``encoding`` or the one detected. Raises
    ImportFileError when the file is empty, is not text, or does not decode with it (naming the
    first bad byte); the file is decoded to check, a chunk at a time."""
    if not any(chunk.strip() for chunk in map(bytes, chunks(source))):
        raise ImportFileError("The file is empty.")
    start = head(source)
    if start.startswith(BINARY_SIGNATURES):
        raise ImportFileError(
            "This file is not a CSV file (it looks like a spreadsheet, PDF or archive). "
            "Save it as CSV and upload it again."
        )
    if encoding == "utf-8":
        encoding = "utf-8-sig"
    elif encoding == "utf-16" and not start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = detect_encoding(source) if start.count(b"\x00") else "utf-16-le"
    encoding = encoding or detect_encoding(source)
    label = ENCODINGS.get(encoding.removesuffix("-sig").split("-l")[0].split("-b")[0], encoding)
    try:
        for text in decoded_chunks(source, encoding):
            if "\x00" in text:
                raise ImportFileError("This file is not a CSV file: it holds binary data.")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"The file cannot be read as {label}: "
            f"byte {error.start + 1} is not valid. Choose the file's encoding in the form."
        ) from error
    return encoding


def sniff_delimiter(line: str) -> str:
    """Comma, semicolon or tab: the one the header line holds most of (outside quotes)."""
    header = next(csv.reader([line]), [""])
    counts = {delimiter: line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] or len(header) > 1 else ","


def csv_records(source: Source, encoding: str = "") -> Iterator[list[str]]:
    """The file's header (trimmed), then its rows one at a time, as ``read_csv`` reads them:
    blank lines left out, a short row filled with blanks. Raises ImportFileError with the row
    number (the header is row 1, as a spreadsheet shows it) for what cannot be read, when that
    row is reached. The text is decoded as the rows are read: memory holds a chunk of it (and
    the file's bytes, when ``source`` is bytes; a file is left open, to be read again)."""
    codec = file_encoding(source, encoding)
    binary = io.BytesIO(source) if isinstance(source, bytes) else source
    binary.seek(0)
    lines = io.TextIOWrapper(binary, encoding=codec, newline="")
    try:
        yield from _records(lines)
    finally:
        if not binary.closed:
            lines.detach()  # the file stays open


def _records(lines) -> Iterator[list[str]]:
    first = lines.readline().removeprefix("\ufeff")
    limit = settings.CRM_IMPORT_MAX_FIELD_LENGTH
    reader = csv.reader(
        itertools.chain([first], lines), delimiter=sniff_delimiter(first.partition("\n")[0])
    )
    csv.field_size_limit(max(limit, 1))
    headers: list[str] | None = None
    row_number = 0
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            row_number += 1
            if headers is None:
                headers = [cell.strip() for cell in cells]
                _check_headers(headers)
                yield headers
                continue
            if len(cells) > len(headers):
                extra = [cell for cell in cells[len(headers) :] if cell.strip()]
                if extra:
                    raise ImportFileError(
                        f"row {row_number}: {len(cells)} values but the header has "
                        f"{len(headers)} columns. Check the delimiter and the quotes."
                    )
                cells = cells[: len(headers)]
            yield [*cells, *([""] * (len(headers) - len(cells)))]
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise ImportFileError(
                f"row {row_number + 1}: a value is longer than {limit:,} characters."
            ) from error
        raise ImportFileError(
            f"row {row_number + 1}: the file cannot be read as CSV ({error})."
        ) from error
    if headers is None:
        raise ImportFileError("The file is empty.")


def read_csv(source: Source, encoding: str = "") -> tablib.Dataset:
    """A dataset of the file's rows under its trimmed header (``csv_records``)."""
    records = csv_records(source, encoding)
    dataset = tablib.Dataset(headers=next(records))
    for row in records:
        dataset.append(row)
    if not len(dataset):
        raise ImportFileError("The file has a header row but no data rows.")
    return dataset


def _check_headers(headers: list[str]) -> None:
    seen: set[str] = set()
    for header in headers:
        key = header.casefold()
        if key and key in seen:
            raise ImportFileError(f"row 1: the column “{header}” appears twice in the header.")
        seen.add(key)
