"""``from dj_queue.contrib.gunicorn import post_fork, worker_exit``: an alias of ``dj_queue_plugins.gunicorn``."""

from __future__ import annotations

from dj_queue_plugins.gunicorn import GunicornEmbedding, HostLock, hooks, post_fork, worker_exit

__all__ = ["GunicornEmbedding", "HostLock", "hooks", "post_fork", "worker_exit"]
