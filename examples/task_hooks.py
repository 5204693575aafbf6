"""Per-task hooks: a should_enqueue veto, and an on_failure callback after the last attempt.

    python examples/task_hooks.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/task_hooks.py   # or mysql (see examples/README.md)

``charge_account`` (example_app/hooked_tasks.py) refuses blocked accounts with
``@should_enqueue``: the enqueue raises ``EnqueueVetoed`` and writes nothing. It retries once
(``@retry(max_attempts=2)``); ``@on_failure(alert_ops)`` runs in the worker once the job failed
for good, after its second attempt, never after the first.
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure({"workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}]})

from django.core.management import call_command  # noqa: E402

from dj_queue.exceptions import EnqueueVetoed  # noqa: E402
from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.hooked_tasks import ALERTED, charge_account  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    try:
        charge_account.enqueue(13)
    except EnqueueVetoed as exc:
        print(f"account 13 vetoed: {type(exc).__name__}; jobs written: {Job.objects.count()}")
    ok, bad = charge_account.enqueue(1), charge_account.enqueue(7)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: ALERTED and charge_account.get_result(ok.id).status == "SUCCESSFUL")
    finally:
        runtime.stop()
    failed = charge_account.get_result(bad.id)
    print(f"account 1: {charge_account.get_result(ok.id).status}")
    print(f"account 7: {failed.status} after {failed.attempts} attempts; on_failure calls: {len(ALERTED)}")


if __name__ == "__main__":
    main()
