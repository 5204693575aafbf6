"""Runtime process rows: register, heartbeat, deregister, and find the ones that stopped beating.

Heartbeats are written with the database's clock (``Now()``) and judged with it too, so hosts
with skewed clocks never prune each other by mistake.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import timedelta
from typing import Any

from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F
from django.db.models.functions import Now

from dj_queue.models import ClaimedExecution, Process
from dj_queue.operations.claim import release

logger = logging.getLogger("dj_queue.processes")


def process_name(kind: str, hostname: str | None = None, pid: int | None = None) -> str:
    """A unique, readable process name: ``worker-<host>-<pid>-<random hex>``."""
    host = (hostname or socket.gethostname())[:100]
    return f"{kind}-{host}-{pid or os.getpid()}-{secrets.token_hex(4)}"


def register(*, kind: str, backend_alias: str, using: str, name: str | None = None,
             supervisor_id: int | None = None, metadata: dict[str, Any] | None = None,
             pid: int | None = None, hostname: str | None = None) -> Process:
    """Insert the process row for a starting actor, its first heartbeat on the database clock."""
    hostname = hostname or socket.gethostname()
    pid = pid or os.getpid()
    process = Process(
        backend_alias=backend_alias, kind=kind, name=name or process_name(kind, hostname, pid),
        hostname=hostname, pid=pid, supervisor_id=supervisor_id, metadata=metadata or {},
        last_heartbeat_at=Now(), created_at=Now(),
    )
    process.save(using=using, force_insert=True)
    return process


def heartbeat(process_id: int, *, using: str) -> bool:
    """Refresh the heartbeat; False when the row is gone (the process was pruned)."""
    return Process.objects.using(using).filter(pk=process_id).update(last_heartbeat_at=Now()) > 0


def deregister(process_id: int, *, using: str) -> int:
    """Delete the process row, first sending any claims it still holds back to ready.

    Returns how many claims were released. A clean stop releases its jobs itself; this only
    catches what slipped through (never leave claims to be failed as missing).
    """
    job_ids = list(
        ClaimedExecution.objects.using(using).filter(process_id=process_id).values_list("job_id", flat=True)
    )
    released = release(job_ids=job_ids, process_id=process_id, using=using) if job_ids else 0
    Process.objects.using(using).filter(pk=process_id).delete()
    return released


def expired(*, backend_alias: str, using: str, threshold: float, exclude_id: int | None = None) -> list[Process]:
    """Process rows of the backend whose last heartbeat is older than ``threshold`` seconds.

    Both sides of the comparison come from the database clock.
    """
    cutoff = ExpressionWrapper(Now() - timedelta(seconds=threshold), output_field=DateTimeField())
    qs = Process.objects.using(using).filter(backend_alias=backend_alias, last_heartbeat_at__lt=cutoff)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return list(qs.order_by("pk"))


def fresh_count(*, backend_alias: str | None, using: str, max_age: float) -> int:
    """How many process rows heartbeated within ``max_age`` seconds (database clock)."""
    cutoff = ExpressionWrapper(Now() - timedelta(seconds=max_age), output_field=DateTimeField())
    qs = Process.objects.using(using).filter(last_heartbeat_at__gte=cutoff)
    if backend_alias is not None:
        qs = qs.filter(backend_alias=backend_alias)
    return qs.count()



def live(*, backend_alias: str, using: str, threshold: float) -> list[dict[str, Any]]:
    """Process rows of the backend that heartbeated within ``threshold`` seconds, oldest row first.

    Each entry: ``kind``, ``name``, ``hostname``, ``pid``, ``last_heartbeat_at`` and
    ``heartbeat_age_seconds``, the age measured on the database clock that wrote the heartbeat.
    """
    cutoff = ExpressionWrapper(Now() - timedelta(seconds=threshold), output_field=DateTimeField())
    age = ExpressionWrapper(Now() - F("last_heartbeat_at"), output_field=DurationField())
    rows = (Process.objects.using(using).filter(backend_alias=backend_alias, last_heartbeat_at__gte=cutoff)
            .annotate(age=age).order_by("pk")
            .values("kind", "name", "hostname", "pid", "last_heartbeat_at", "age"))
    return [{**{k: v for k, v in row.items() if k != "age"},
             "heartbeat_age_seconds": round(max(row["age"].total_seconds(), 0.0), 3)} for row in rows]
