"""Gunicorn config of the embedding tests: the documented one-line import, nothing else of ours.

``DJ_QUEUE_GUNICORN_ONE_PER_HOST`` / ``DJ_QUEUE_GUNICORN_LOCK_FILE`` switch to one supervisor per host.
"""

from dj_queue_plugins.gunicorn import post_fork, worker_exit  # noqa: F401

graceful_timeout = 20
timeout = 30
loglevel = "info"
