"""Rate limits: at most 3 calls a second per partner, shared by every worker; extras wait, none dropped.

    python examples/rate_limits.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/rate_limits.py   # or mysql (see examples/README.md)

``call_partner_api`` (in example_app/tasks.py) is declared with
``@rate_limit(key="partner:{partner}", limit=3, period=1)``. Nine calls to one partner and two to
another are enqueued at once; the worker has six threads, yet no more than three calls to a
partner start in any one-second window. Jobs over the limit go back to scheduled (the dashboard's
"Throttled" card counts them) and start as soon as the limit allows, without counting an attempt.
"""

from __future__ import annotations

import time

from example_app.setup import configure

configure({
    "workers": [{"queues": "*", "threads": 6, "polling_interval": 0.05}],
    "dispatchers": [{"polling_interval": 0.05}],
})

from django.core.management import call_command  # noqa: E402

from dj_queue.compat import TaskResultStatus  # noqa: E402
from dj_queue.models import Job, ScheduledExecution  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import call_partner_api  # noqa: E402


def busiest_second(starts: list[float]) -> int:
    """The most starts in any window of one second (windows that begin at a start are the worst)."""
    return max(sum(1 for t in starts[i:] if t < first + 1.0) for i, first in enumerate(starts))


def main() -> None:
    call_command("migrate", verbosity=0)
    acme = [call_partner_api.enqueue("acme", n) for n in range(9)]
    other = [call_partner_api.enqueue("globex", n) for n in range(2)]
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    throttled_seen = 0
    try:
        deadline = time.monotonic() + 30
        while Job.objects.filter(finished_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not finish in time")
            throttled_seen = max(throttled_seen, ScheduledExecution.objects.filter(throttled=True).count())
            time.sleep(0.02)
    finally:
        runtime.stop()
    acme_results = [call_partner_api.get_result(r.id) for r in acme]
    starts = sorted(result.return_value for result in acme_results)
    print(f"acme: {len(starts)} calls over {starts[-1] - starts[0]:.1f}s, "
          f"at most {busiest_second(starts)} in any second")
    print(f"all succeeded: {all(r.status == TaskResultStatus.SUCCESSFUL for r in acme_results)}")
    print(f"attempts per job: {sorted({len(r.worker_ids) for r in acme_results})}")
    print(f"throttled jobs seen waiting: {'yes' if throttled_seen else 'no'}")
    print(f"globex done too: {all(call_partner_api.get_result(r.id).is_finished for r in other)}")


if __name__ == "__main__":
    main()
