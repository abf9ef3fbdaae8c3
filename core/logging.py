"""Logging filters the settings use."""

import logging


class PermissionDeniedWithoutTraceback(logging.Filter):
    """A 403 is an answer, not a fault: log its line without the exception's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
