"""Recurring tasks: one static (from OPTIONS["recurring"]) and one dynamic, fired by a real runtime.

    python examples/recurring.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/recurring.py   # or mysql (see examples/README.md)

Schedules with six fields have seconds last, so these fire every second and every two seconds.
The in-process runtime runs for about three seconds; every run is reserved once per ``run_at``.
"""

from __future__ import annotations

import time


from example_app.setup import configure

STATIC_KEY, DYNAMIC_KEY = "ping-every-second", "ping-every-2s"

configure({
    "workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}],
    "scheduler": {"dynamic_tasks_enabled": True, "polling_interval": 1},
    "recurring": {STATIC_KEY: {
        "task_path": "example_app.tasks.heartbeat_ping", "schedule": "* * * * * *",
        "kwargs": {"source": "static"}, "description": "every second (6 fields: seconds last)",
        "timezone": "Europe/Berlin",  # wall-clock times of the schedule are Berlin time
    }},
})

from django.core.management import call_command  # noqa: E402

from dj_queue.api import schedule_recurring_task, unschedule_recurring_task  # noqa: E402
from dj_queue.models import Job, RecurringExecution, RecurringTask  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402


def wait_for_jobs(timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while Job.objects.filter(finished_at__isnull=True).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main() -> None:
    call_command("migrate", verbosity=0)
    for model in (Job, RecurringExecution, RecurringTask):
        model.objects.all().delete()

    task = schedule_recurring_task(
        key=DYNAMIC_KEY, task_path="example_app.tasks.heartbeat_ping", schedule="* * * * * */2",
        kwargs={"source": "dynamic"}, description="every two seconds, created at runtime",
    )
    print(f"scheduled dynamic task {task.key!r} ({task.schedule})")

    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        time.sleep(3.2)  # the scheduler fires on time; this is how long we let it
        unscheduled = unschedule_recurring_task(DYNAMIC_KEY)
        finished = wait_for_jobs()
    finally:
        runtime.stop()

    for key, kind in ((STATIC_KEY, "static"), (DYNAMIC_KEY, "dynamic")):
        runs = RecurringExecution.objects.filter(task_key=key).count()
        print(f"{kind} task {key!r}: {runs} runs fired")
    reservations = list(RecurringExecution.objects.values_list("task_key", "run_at"))
    print(f"each run_at fired once: {len(reservations) == len(set(reservations))}")
    print(f"one job per run: {Job.objects.count() == len(reservations)}")
    print(f"all recurring jobs finished: {finished}")
    print(f"unscheduled {DYNAMIC_KEY!r}: {unscheduled}; static tasks cannot be unscheduled: "
          f"{unschedule_recurring_task(STATIC_KEY) == 0}")
    sample = Job.objects.filter(finished_at__isnull=False).order_by("pk").first()
    if sample is not None:
        print(f"a run's return value: {sample.return_value!r}")


if __name__ == "__main__":
    main()
