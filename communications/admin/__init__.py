"""The communications admin, one module per feature."""

from communications.admin import campaigns, log, templates, tickets  # noqa: F401
