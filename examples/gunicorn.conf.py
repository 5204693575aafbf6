"""Gunicorn config with dj_queue embedded: each server worker runs a supervisor in threads.

    cd examples
    DJANGO_SETTINGS_MODULE=embedding.settings python -m django migrate
    gunicorn -c gunicorn.conf.py

The two hooks are the whole integration. ``DJ_QUEUE_GUNICORN_ONE_PER_HOST=1`` runs a single
supervisor per host instead of one per worker (see docs/deployment.md).
"""

import os

from dj_queue_plugins.gunicorn import post_fork, worker_exit  # noqa: F401

pythonpath = os.path.dirname(os.path.abspath(__file__))  # `embedding` and `example_app`
raw_env = ["DJANGO_SETTINGS_MODULE=embedding.settings"]
wsgi_app = "embedding.wsgi:application"
bind = "127.0.0.1:8000"
workers = 2
# Longer than dj_queue's shutdown_timeout + 5 s, so in-flight jobs drain before Gunicorn kills a worker.
graceful_timeout = 30
