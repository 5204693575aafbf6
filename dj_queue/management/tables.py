"""Plain-text tables for the operator commands' output."""

from __future__ import annotations


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Lines of columns two spaces apart: numeric columns right-aligned, the rest left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    numeric = [bool(rows) and all(row[i].replace(".", "", 1).isdigit() for row in rows) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)).rstrip()

    return [line(header), *(line(row) for row in rows)]
