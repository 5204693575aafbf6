"""Models the test tasks write to."""

from __future__ import annotations

from django.db import models


class SideEffect(models.Model):
    """One row per executed job key; the unique key proves no job ran twice."""

    key = models.CharField(max_length=100, unique=True)
    pid = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
