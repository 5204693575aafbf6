"""Filters of the job lists: task path, queue, exception class and enqueued/finished time ranges.

The same filter narrows a list page (read from the query string) and an "all" action (read from
the POSTed form the page sent), so "retry all 37 matching" retries exactly the 37 listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

# States whose jobs have a finish time (a failed job's finished_at is the time of its failure).
FINISHED_STATES = ("failed", "finished")
# Form field -> (label in a description, ORM lookup on the job).
TEXT_FIELDS = {"task": ("task", "task_path__icontains"), "queue": ("queue", "queue_name")}
RANGE_FIELDS = {
    "enqueued_after": ("enqueued after", "enqueued_at__gte"),
    "enqueued_before": ("enqueued before", "enqueued_at__lt"),
    "finished_after": ("finished after", "finished_at__gte"),
    "finished_before": ("finished before", "finished_at__lt"),
}
MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def _moment(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(required=False, label=label, input_formats=MOMENT_FORMATS,
                               widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                          format="%Y-%m-%dT%H:%M"))


class JobFilter(forms.Form):
    """The filter form of one state's job list; ``apply`` narrows that state's rows."""

    task = forms.CharField(required=False, max_length=255, label="Task path contains")
    queue = forms.CharField(required=False, max_length=100, label="Queue")
    exception = forms.CharField(required=False, max_length=255, label="Exception class contains")
    enqueued_after = _moment("Enqueued after")
    enqueued_before = _moment("Enqueued before")
    finished_after = _moment("Finished after")
    finished_before = _moment("Finished before")

    def __init__(self, data: Any, *, state: str) -> None:
        super().__init__({name: data.get(name, "") for name in self.base_fields})
        self.state = state
        if state != "failed":
            del self.fields["exception"]
        if state not in FINISHED_STATES:
            del self.fields["finished_after"], self.fields["finished_before"]

    def values(self) -> dict[str, Any]:
        """The fields that are set and valid (an invalid one is reported on the page, not applied)."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned[name] for name in self.fields if cleaned.get(name) not in (None, "")}

    def apply(self, rows: QuerySet) -> QuerySet:
        """Narrow ``rows`` (execution rows, or jobs for "finished") to the jobs matching the filter."""
        prefix = "" if self.state == "finished" else "job__"
        lookups = {}
        for name, value in self.values().items():
            if name == "exception":
                lookups["exception_class__icontains"] = value
            else:
                lookups[prefix + {**TEXT_FIELDS, **RANGE_FIELDS}[name][1]] = value
        return rows.filter(**lookups) if lookups else rows

    @property
    def active(self) -> bool:
        return bool(self.values())

    def params(self) -> list[tuple[str, str]]:
        """(name, value) of the set fields, as the form sends them, for hidden inputs and links."""
        return [(name, self[name].value()) for name in self.values()]

    def describe(self, *, without: tuple[str, ...] = ()) -> str:
        """ "task contains 'send', enqueued after 2026-11-30 18:00 UTC" ("" when nothing is set)."""
        parts = []
        for name, value in self.values().items():
            if name in without:
                continue
            if name == "exception":
                parts.append(f"exception class contains {value!r}")
            elif name == "task":
                parts.append(f"task contains {value!r}")
            elif name == "queue":
                parts.append(f"queue {value!r}")
            else:
                parts.append(f"{RANGE_FIELDS[name][0]} {_shown(value)}")
        return ", ".join(parts)


def _shown(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
