"""Prometheus metrics of a known workload: counters from hooks, gauges from the database.

    pip install 'dj-queue[prometheus]'
    python examples/prometheus_metrics.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/prometheus_metrics.py   # or mysql (see examples/README.md)

An in-process async runtime runs three welcome e-mails, a card charge that succeeds on its third
attempt and one that fails for good; then the script scrapes ``/metrics`` from the same server
``manage.py dj_queue --metrics-port`` starts, and prints the lines an operator would alert on.
In a project, add ``path("metrics", dj_queue_plugins.prometheus.metrics_view)`` to a URLconf or
run ``python manage.py dj_queue --metrics-port 9108``.
"""

from __future__ import annotations

import socket
import time
import urllib.request

from example_app.setup import configure

configure({"mode": "async", "workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}],
           "dispatchers": [{"polling_interval": 0.1}]},
          LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}})

from django.core.management import call_command  # noqa: E402

from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from dj_queue_plugins import prometheus  # noqa: E402
from example_app.tasks import charge_bad_card, charge_card, send_welcome_email  # noqa: E402

DONE_SUCCEEDED = 'state="succeeded",task="example_app.tasks.charge_card"} 1.0'
DONE_FAILED = 'state="failed",task="example_app.tasks.charge_bad_card"} 1.0'
SHOWN = ("dj_queue_jobs_total", "dj_queue_queue_depth", "dj_queue_processes", "dj_queue_job_duration_seconds_count")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the runtime")
        time.sleep(0.05)


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    for user_id in (1, 2, 3):
        send_welcome_email.enqueue(user_id)
    charge_card.enqueue(7)
    charge_bad_card.enqueue(8)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    port = free_port()
    server = prometheus.serve(port)  # what --metrics-port does
    text = ""

    def scraped_all() -> bool:
        nonlocal text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        # Job hooks run right after each commit: wait for the last outcomes to be counted.
        return DONE_SUCCEEDED in text and DONE_FAILED in text

    try:
        wait_for(lambda: not Job.objects.filter(finished_at__isnull=True).exists())
        wait_for(scraped_all)
    finally:
        server.shutdown()
        server.server_close()
        runtime.stop()
    for line in text.splitlines():
        if line.startswith(SHOWN) and not line.endswith(" 0.0"):
            print(line)


if __name__ == "__main__":
    main()
