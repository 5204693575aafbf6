"""Queue selectors: which queues a worker claims from, in which order.

A worker's ``queues`` setting is an ordered list of selectors: ``"*"`` matches every queue,
``"prefix*"`` matches queue names starting with ``prefix``, anything else is an exact name.
Claims fill from the first selector before looking at the next, so selector order beats priority.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

from django.db.models import Q

ALL = "all"
PREFIX = "prefix"
EXACT = "exact"


@dataclass(frozen=True)
class Selector:
    """One parsed queue selector."""

    kind: str
    value: str = ""

    def matches(self, queue_name: str) -> bool:
        """Return whether ``queue_name`` is selected."""
        if self.kind == ALL:
            return True
        if self.kind == PREFIX:
            return queue_name.startswith(self.value)
        return queue_name == self.value

    def q(self, field: str = "queue_name") -> Q:
        """Return the ORM condition selecting this selector's queues (empty for ``"*"``)."""
        if self.kind == ALL:
            return Q()
        if self.kind == PREFIX:
            return Q(**{f"{field}__startswith": self.value})
        return Q(**{field: self.value})

    def sql(self, column: str = "queue_name") -> tuple[str, list[str]]:
        """Return ``(" AND <condition>", params)`` for raw SQL, or ``("", [])`` for ``"*"``.

        The LIKE pattern escapes ``\\``, ``%`` and ``_`` with backslash, the default escape
        character of PostgreSQL, MySQL and MariaDB.
        """
        if self.kind == ALL:
            return "", []
        if self.kind == PREFIX:
            escaped = self.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return f" AND {column} LIKE %s", [escaped + "%"]
        return f" AND {column} = %s", [self.value]


def parse_selector(text: str) -> Selector:
    """Parse one selector string; raise ``ValueError`` for anything but a non-empty string."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"dj_queue: a queue selector must be a non-empty string, got {text!r}")
    text = text.strip()
    if text == "*":
        return Selector(ALL)
    if text.endswith("*"):
        prefix = text[:-1]
        if "*" in prefix:
            raise ValueError(f"dj_queue: only a trailing '*' is allowed in queue selector {text!r}")
        return Selector(PREFIX, prefix)
    if "*" in text:
        raise ValueError(f"dj_queue: only a trailing '*' is allowed in queue selector {text!r}")
    return Selector(EXACT, text)


def parse_selectors(selectors: str | Sequence[str]) -> list[Selector]:
    """Parse an ordered selector list (or a comma separated string), dropping redundant entries.

    Duplicates are dropped, and nothing after ``"*"`` can select anything new, so it is dropped too.
    """
    if isinstance(selectors, str):
        selectors = selectors.split(",")
    if not isinstance(selectors, (list, tuple)):
        raise ValueError(f"dj_queue: queue selectors must be a list of strings, got {selectors!r}")
    for text in selectors:
        if not isinstance(text, str):
            raise ValueError(f"dj_queue: a queue selector must be a non-empty string, got {text!r}")
    return list(_parse_tuple(tuple(selectors)))


@functools.lru_cache(maxsize=256)
def _parse_tuple(selectors: tuple) -> tuple[Selector, ...]:
    parsed: list[Selector] = []
    for text in selectors:
        selector = parse_selector(text)
        if selector not in parsed:
            parsed.append(selector)
        if selector.kind == ALL:
            break
    if not parsed:
        raise ValueError("dj_queue: at least one queue selector is required")
    return tuple(parsed)


def any_matches(selectors: Sequence[Selector], queue_name: str) -> bool:
    """Return whether any of ``selectors`` selects ``queue_name``."""
    return any(selector.matches(queue_name) for selector in selectors)
