"""Pick the supervisor for a runtime's ``mode``: fork (a process per actor) or async (threads)."""

from __future__ import annotations

from typing import Any

from dj_queue.runtime.forking import ForkSupervisor
from dj_queue.runtime.supervisor import Supervisor
from dj_queue.runtime.threaded import AsyncSupervisor


def build_supervisor(options: dict[str, Any], **kwargs: Any) -> Supervisor:
    """The supervisor for ``options["mode"]``."""
    if options["mode"] == "async":
        return AsyncSupervisor(options=options, **kwargs)
    return ForkSupervisor(options=options, **kwargs)
