"""Log lines for humans and machines.

``TracebackFormatter`` trims tracebacks the way the dashboard shows them: the application's own
frames, with dj_queue, pluggy, Django and library frames folded into one line.
``JsonFormatter`` (trimmed too) writes one JSON object per record. ``manage.py dj_queue`` puts
one of them on the handler it attaches (``OPTIONS["log_format"]``); a project can name them in
its own ``LOGGING`` dict, e.g. for the ``django.tasks`` logger that logs failed tasks::

    "formatters": {"json": {"()": "dj_queue.logs.JsonFormatter"},
                   "trimmed": {"()": "dj_queue.logs.TracebackFormatter",
                               "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}}

``job_fields(job)`` is the ``extra=`` of a log line about one job (``job_id``, ``task_path``,
``queue``), which the JSON lines carry as fields.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from dj_queue.tracebacks import user_frames_first

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller added with ``extra=`` (``job_id``, ``task_path``, ``queue`` ...)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


def job_fields(job: Any) -> dict[str, Any]:
    """``extra=`` for a log line about ``job``: its id, task path and queue as fields."""
    return {"job_id": job.pk, "task_path": job.task_path, "queue": job.queue_name}


class TracebackFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose tracebacks show the user's frames, framework frames folded."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return user_frames_first(super().formatException(ei))[0]


class JsonFormatter(TracebackFormatter):
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
