"""The admin's export formats: django-import-export's CSV and XLSX with every cell passed
through ``cell_safe`` first. The library's own IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT strips a
leading "=" only (tablib), which leaves +, -, @, tab and carriage return through."""

import tablib
from import_export.formats import base_formats

from core.exports.cells import cell_safe


def dataset_escaped(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of the dataset with every cell made safe for a spreadsheet."""
    escaped = tablib.Dataset(headers=[cell_safe(h) for h in dataset.headers or []])
    escaped.title = dataset.title
    for row in dataset:
        escaped.append([cell_safe(value) for value in row])
    return escaped


class SafeCSV(base_formats.CSV):
    def export_data(self, dataset, **kwargs):
        return super().export_data(dataset_escaped(dataset), **kwargs)


class SafeXLSX(base_formats.XLSX):
    def export_data(self, dataset, **kwargs):
        return super().export_data(dataset_escaped(dataset), **kwargs)


EXPORT_FORMATS = [SafeCSV, SafeXLSX]

# The library hands a binary format numbers and dates as values (force_native_type), matching
# the format's exact class: make it know SafeXLSX, so an amount is a numeric cell.
if SafeXLSX not in base_formats.BINARY_FORMATS:
    base_formats.BINARY_FORMATS.append(SafeXLSX)
