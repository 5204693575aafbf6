"""Stable import paths for the embedding adapters that live in ``dj_queue_plugins``.

``dj_queue.contrib.asgi`` re-exports ``DjQueueLifespan``; ``dj_queue.contrib.gunicorn`` the
Gunicorn hooks. Neither imports its server, so both import without the extras installed.
"""
