"""``from dj_queue.contrib.asgi import DjQueueLifespan``: an alias of ``dj_queue_plugins.asgi``."""

from __future__ import annotations

from dj_queue_plugins.asgi import DjQueueLifespan

__all__ = ["DjQueueLifespan"]
