"""Sortable, paginated tables driven by query parameters, several per page.

Each table reads ``<name>_o`` (sort key, ``-`` for descending) and ``<name>_p`` (page) and keeps
every other parameter in its links, so sorting one table leaves the others as they were.
Querysets are sorted and sliced by the database; plain lists (a handful of queues) in Python.
Their count stops at ``COUNT_CAP`` (shown "10,000+"): counting a million finished jobs to print
a page number costs more than the page itself, so past the cap the pager ends and filters narrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

PER_PAGE = 25
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A paginator whose count reads at most ``cap + 1`` rows; ``capped`` when there were more.

    Also the admin changelists' paginator (``QueueAdmin.paginator``), hence Django's signature.
    """

    def __init__(self, object_list, per_page: int, orphans: int = 0, allow_empty_first_page: bool = True,
                 *, cap: int | None = None) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.cap = COUNT_CAP if cap is None else cap
        self.capped = False

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet):
            return len(rows)
        # COUNT over a LIMITed subquery, unordered: the database stops reading at cap + 1 rows
        # (ordered, it could sort every row first to pick which cap + 1 to count).
        found = rows.order_by().values("pk")[: self.cap + 1].count()
        self.capped = found > self.cap
        return min(found, self.cap)

    @property
    def shown_count(self) -> str:
        """ "37", or "10,000+" when the count stopped at the cap."""
        count = self.count
        return f"{count:,}+" if self.capped else str(count)


@dataclass(frozen=True)
class Column:
    """A table column; ``field`` (an ORM path or attribute) makes it sortable."""

    label: str
    field: str | None = None

    @property
    def key(self) -> str:
        return (self.field or "").replace("__", "_")


class Table:
    def __init__(self, request: HttpRequest, name: str, columns: Sequence[Column], rows: QuerySet | list,
                 *, default: str, per_page: int = PER_PAGE) -> None:
        self.name = name
        self.columns = list(columns)
        self._params = request.GET
        sortable = {c.key: c for c in self.columns if c.field}
        order = request.GET.get(f"{name}_o", default)
        if order.lstrip("-") not in sortable:
            order = default
        self.order = order
        column = sortable[order.lstrip("-")]
        rows = _sorted(rows, column.field, descending=order.startswith("-"))
        self.paginator = CappedPaginator(rows, per_page)
        self.page = self.paginator.get_page(request.GET.get(f"{name}_p"))
        # Evaluate the page once, so callers can decorate its rows without another query.
        self.page.object_list = list(self.page.object_list)

    def url(self, **changes: Any) -> str:
        """This page's query string with the table's parameters changed."""
        params = self._params.copy()
        for key, value in changes.items():
            params[f"{self.name}_{key}"] = str(value)
        return "?" + params.urlencode()

    @property
    def headers(self) -> list[dict[str, Any]]:
        current, descending = self.order.lstrip("-"), self.order.startswith("-")
        result = []
        for column in self.columns:
            header = {"label": column.label, "url": None, "sorted": None}
            if column.field:
                active = column.key == current
                header["sorted"] = ("desc" if descending else "asc") if active else None
                flip = "" if active and descending else "-" if active else ""
                header["url"] = self.url(o=f"{flip}{column.key}", p=1)
            result.append(header)
        return result

    @property
    def previous_url(self) -> str | None:
        return self.url(p=self.page.previous_page_number()) if self.page.has_previous() else None

    @property
    def next_url(self) -> str | None:
        return self.url(p=self.page.next_page_number()) if self.page.has_next() else None


def _sorted(rows: QuerySet | list, field: str, *, descending: bool) -> QuerySet | list:
    if isinstance(rows, QuerySet):
        sign = "-" if descending else ""
        return rows.order_by(f"{sign}{field}", f"{sign}pk")

    def key(row: Any) -> tuple:
        value = getattr(row, field)
        return (value is None, value if value is not None else 0)

    return sorted(rows, key=key, reverse=descending)
