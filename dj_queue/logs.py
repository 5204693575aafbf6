"""Log lines for machines: ``JsonFormatter`` writes one JSON object per record.

``manage.py dj_queue`` puts it on the handler it attaches when ``OPTIONS["log_format"]`` is
``"json"``; a project can name it in its own ``LOGGING`` dict instead::

    "formatters": {"json": {"()": "dj_queue.logs.JsonFormatter"}}
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added with ``extra=`` (``job_id``, ``task_path``, ``queue`` ...)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 with zone), level, logger, message, extra fields.

    An exception becomes a ``traceback`` field, so a record never spans several lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).astimezone().isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra field that JSON cannot hold (a datetime, a UUID) is still shown.
        return json.dumps(entry, default=str, ensure_ascii=False)
