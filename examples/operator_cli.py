"""Operating at 3 a.m.: ``queue_depths``, ``dj_queue_status``, ``dj_queue_failed`` and ``dj_queue_health``.

    python examples/operator_cli.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/operator_cli.py   # or mysql (see examples/README.md)

An in-process runtime whose worker serves only the ``maintenance`` queue stands in for a live
deployment: its processes show up in the status, and the jobs enqueued on other queues wait.
Two failed jobs are written straight into the table. The commands run through ``call_command``
exactly as ``python manage.py ...`` would run them.
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure({"workers": [{"queues": ["maintenance"], "threads": 1, "polling_interval": 0.1}],
           "process_heartbeat_interval": 1})

from django.core.management import CommandError, call_command  # noqa: E402

from dj_queue.api import QueueInfo, queue_depths  # noqa: E402
from dj_queue.models import FailedExecution, Job, Pause, Process  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import build_report, send_password_reset, send_welcome_email  # noqa: E402


def fail(task_path: str, exception_class: str, message: str) -> None:
    job = Job.objects.create(task_path=task_path, args=[1], queue_name="default")
    FailedExecution.objects.create(job=job, exception_class=exception_class, message=message)



def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    Pause.objects.all().delete()
    for user_id in range(3):
        send_welcome_email.enqueue(user_id)
    send_password_reset.enqueue(7)
    build_report.enqueue("2026-11")
    QueueInfo("reports").pause()
    fail("example_app.tasks.send_welcome_email", "smtplib.SMTPServerDisconnected", "connection lost")
    fail("example_app.tasks.resize_image", "builtins.ValueError", "unsupported format")

    for queue in queue_depths():
        print(f"queue {queue['name']}: ready {queue['ready']}, failed {queue['failed']}, paused {queue['paused']}")

    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: Process.objects.filter(kind="worker").exists())
        call_command("dj_queue_status")
        call_command("dj_queue_failed", "list", "--exception", "SMTPServerDisconnected")
        call_command("dj_queue_failed", "retry", "--task", "example_app.tasks.send_welcome_email", "--dry-run")
        call_command("dj_queue_failed", "retry", "--task", "example_app.tasks.send_welcome_email")
        call_command("dj_queue_failed", "discard", "--exception", "ValueError")
        call_command("dj_queue_health", "--max-backlog", "10", "--max-latency", "1h")
        try:
            call_command("dj_queue_health", "--max-backlog", "3")
        except CommandError as exc:
            print(f"exit {exc.returncode}: {exc}")
    finally:
        runtime.stop()


if __name__ == "__main__":
    main()
