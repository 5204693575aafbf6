"""Schedule a job for later with ``run_after``.

    python examples/scheduled.py              # DJ_QUEUE_EXAMPLE_DB=postgres|mysql for the servers

The job waits in the scheduled set; a dj_queue dispatcher moves it to ready when it is due.
"""

from __future__ import annotations

from datetime import timedelta

from example_app.setup import configure

configure()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from dj_queue.models import ReadyExecution, ScheduledExecution  # noqa: E402
from example_app.tasks import build_report  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    run_after = timezone.now() + timedelta(minutes=30)
    result = build_report.using(run_after=run_after).enqueue("2026-11")
    print(f"enqueued job {result.id}, status {result.status}, run_after {run_after.isoformat()}")

    scheduled = ScheduledExecution.objects.get(job_id=result.id)
    print(f"scheduled execution: scheduled_at {scheduled.scheduled_at.isoformat()}")
    print(f"in the ready set: {ReadyExecution.objects.filter(job_id=result.id).exists()}")

    reread = build_report.get_result(result.id)
    print(f"read back: status {reread.status}, run_after {reread.task.run_after.isoformat()}")


if __name__ == "__main__":
    main()
