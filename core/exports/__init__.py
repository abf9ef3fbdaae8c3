"""Exports that are safe to open in a spreadsheet and cheap on big tables: one escaping rule for
formula injection (cells.py), the CSV and XLSX formats of the admin's exports (formats.py), and
the admin mixin that streams a CSV export row by row (admin.py)."""
