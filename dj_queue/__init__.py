"""dj_queue: a database-backed task queue backend for Django's task framework."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Marker for plugin hook implementations: ``@dj_queue.hookimpl``.
hookimpl = pluggy.HookimplMarker("dj_queue")

__all__ = ["hookimpl", "__version__"]
