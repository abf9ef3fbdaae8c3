"""Importing CSV files through the admin, shared by every app.

How an app uses it:

* ``core.imports.resources.CrmResource``: the base of an app's django-import-export resource.
  Subclass it as a ``ModelResource`` (``class Meta: model = ...``). It brings the file's header
  names to the resource's columns (trimmed, any letter case, and the aliases listed in
  ``column_aliases``), strips a leading apostrophe that spreadsheets and Shopify put before
  values, refuses a file whose columns match none of the resource's, imports in bulk batches in
  one transaction, and reports each problem as "row 17, email: ...". Its widgets
  (``core.imports.widgets``) read phones, dates and yes/no values the way shops write them.
* ``core.imports.admin.CrmImportExportMixin``: put it before ``admin.ModelAdmin`` and set
  ``resource_classes``. It gives the library's two-step flow (upload, dry-run preview, confirm)
  at ``<changelist>/import/`` with CSV read in any of the encodings and delimiters shops use,
  and the choice "import the valid rows and give me the rest back".
* ``core.imports.reading.read_csv``: the reader behind both, for a job or a command.
"""
