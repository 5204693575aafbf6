"""One row per rate-limit key: the recent starts of its jobs, locked while a start is decided."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RateLimitLog(models.Model):
    """The sliding log of one key: start times (epoch seconds) within the last ``period``.

    Pruned on every write, so it holds at most ``limit`` entries; the row lock serialises the
    workers deciding whether one more job of the key may start.
    """

    backend_alias = models.CharField(max_length=100, default="default")
    key = models.CharField(max_length=255)
    starts = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dj_queue_rate_limit"
        constraints = [
            models.UniqueConstraint(fields=["backend_alias", "key"], name="dj_queue_rate_limit_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({len(self.starts or [])} recent start(s))"
