"""``OrderedJSONField``: JSON stored as the text that was written, so values read back unchanged.

PostgreSQL's ``jsonb`` and MySQL 8's ``JSON`` store a parsed form that sorts object keys, so a
task's ``{"b": 1, "a": 2}`` would come back as ``{"a": 2, "b": 1}``. Arguments and return values
are data the user owns; the column keeps their text instead. SQLite's and MariaDB's JSON columns
already hold text, and SQLite keeps its ``JSON_VALID`` check.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

# Column types that hold text verbatim, per vendor; others keep JSONField's own type.
_TEXT_COLUMNS = {"postgresql": "text", "mysql": "longtext"}


class OrderedJSONField(models.JSONField):
    """A ``JSONField`` whose column is text on PostgreSQL and MySQL: key order survives."""

    def db_type(self, connection: Any) -> str | None:
        return _TEXT_COLUMNS.get(connection.vendor) or super().db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        # Plain JSON text: PostgreSQL's adapter would send (and cast to) jsonb.
        return json.dumps(value, cls=self.encoder)
