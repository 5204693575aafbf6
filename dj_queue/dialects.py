"""Database dialects: how to lock and claim ready rows on one database vendor."""
from __future__ import annotations


class GenericDialect:
    vendor = "generic"

    def __init__(self, connection):
        self.connection = connection
