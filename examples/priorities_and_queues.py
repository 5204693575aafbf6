"""Queues and priorities: where jobs land, and how to look at and pause a queue.

    python examples/priorities_and_queues.py  # DJ_QUEUE_EXAMPLE_DB=postgres|mysql for the servers

Within a queue, workers claim higher priorities first (-100..100), then older jobs first.
"""

from __future__ import annotations

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402

from dj_queue.api import QueueInfo  # noqa: E402
from dj_queue.models import ReadyExecution  # noqa: E402
from example_app.tasks import build_report, send_password_reset, send_welcome_email  # noqa: E402


QUEUES = ("default", "emails", "reports-monthly")


def main() -> None:
    call_command("migrate", verbosity=0)
    for name in QUEUES:  # start from empty queues: clear() discards ready jobs only
        QueueInfo(name).clear()

    send_welcome_email.enqueue(1)  # the task's defaults: queue "default", priority 0
    send_welcome_email.using(priority=50).enqueue(2)  # same queue, claimed first
    send_password_reset.enqueue(3)  # declared with queue_name="emails", priority=20
    build_report.using(queue_name="reports-monthly").enqueue("2026-11")

    for name in QUEUES:
        queue = QueueInfo(name)
        print(f"queue {name}: size {queue.size}, latency {queue.latency.total_seconds():.3f}s")

    print("claim order within queue 'default':")
    for ready in ReadyExecution.objects.filter(queue_name="default").order_by("-priority", "job_id"):
        print(f"  job {ready.job_id} priority {ready.priority}")

    emails = QueueInfo("emails")
    emails.pause()  # workers skip it; enqueueing still works
    print(f"emails paused: {emails.paused}")
    emails.resume()
    print(f"emails paused after resume: {emails.paused}")


if __name__ == "__main__":
    main()
