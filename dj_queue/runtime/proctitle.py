"""Process titles, so ``ps`` and ``top`` tell a supervisor from its workers.

Titles such as ``dj_queue worker 1/2 queues=* threads=4`` are set through ``setproctitle``
when it is installed (``pip install "dj-queue[proctitle]"``); without it nothing happens.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

logger = logging.getLogger("dj_queue.runtime")


def set_title(title: str) -> bool:
    """Set this process's title; False when ``setproctitle`` is not installed or fails."""
    try:
        # Optional extra: imported here so dj_queue runs without it.
        from setproctitle import setproctitle
    except ImportError:
        return False
    try:
        setproctitle(title)
    except Exception:  # a cosmetic feature must never stop a runtime
        logger.debug("dj_queue: could not set the process title", exc_info=True)
        return False
    return True


def supervisor_title(backend_alias: str, mode: str) -> str:
    return f"dj_queue supervisor backend={backend_alias} mode={mode}"


def actor_title(slot: Any, slots: Sequence[Any]) -> str:
    """``dj_queue worker 1/2 queues=* threads=4`` for a worker; ``dj_queue <kind>`` otherwise."""
    kind = slot.spec.kind
    if kind != "worker":
        return f"dj_queue {kind}"
    workers = [other for other in slots if other.spec.kind == "worker"]
    position = next(i for i, other in enumerate(workers, 1) if other is slot)
    queues = slot.spec.settings.get("queues", "*")
    queue_text = queues if isinstance(queues, str) else ",".join(queues)
    threads = slot.spec.settings.get("threads")
    return f"dj_queue worker {position}/{len(workers)} queues={queue_text} threads={threads}"
