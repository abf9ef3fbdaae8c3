"""The CSV import format of the admin's form: read by ``core.imports.reading`` from the raw
bytes, one entry per encoding, so the encoding is detected or chosen in the form and carried
from the preview to the confirmation with the format."""

from import_export.formats import base_formats

from core.imports.reading import ENCODINGS, read_csv


class CsvImport(base_formats.CSV):
    """CSV in any delimiter; the file is kept as bytes and decoded here."""

    source_encoding = ""

    def get_title(self):
        label = ENCODINGS[self.source_encoding]
        return "csv" if not self.source_encoding else f"csv ({label})"

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream):
        if isinstance(in_stream, str):
            in_stream = in_stream.encode("utf-8")
        return read_csv(in_stream, self.source_encoding)


def _csv_format(encoding: str) -> type[CsvImport]:
    return type(
        f"CsvImport_{encoding.replace('-', '_')}", (CsvImport,), {"source_encoding": encoding}
    )


# Detected first: the form's default.
IMPORT_FORMATS = [CsvImport, *(_csv_format(encoding) for encoding in ENCODINGS if encoding)]
