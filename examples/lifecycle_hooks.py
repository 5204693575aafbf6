"""Lifecycle hooks with the decorator API, fired by a real (in-process) dj_queue runtime.

    python examples/lifecycle_hooks.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/lifecycle_hooks.py   # or mysql (see examples/README.md)

In a project, register hooks where Django imports them before the runtime starts, e.g. in your
``AppConfig.ready()``. One hook here fails on purpose: the hooks after it still run and the error
goes to ``on_thread_error``.
"""

from __future__ import annotations

import threading
import time

from example_app.setup import configure

configure(
    {
        "mode": "async",
        "workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}],
        "on_thread_error": "__main__.report_error",
    },
    # A failing hook is also logged with its traceback at ERROR; kept quiet here for short output.
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402

from dj_queue.hooks import on_exit, on_start, on_worker_exit, on_worker_start, register_hook  # noqa: E402
from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.options import load_options  # noqa: E402
from dj_queue.runtime.modes import build_supervisor  # noqa: E402
from example_app.tasks import send_welcome_email  # noqa: E402

_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def report_error(exc: BaseException) -> None:
    """``on_thread_error``: runtime-infrastructure errors (a failing hook is one) land here."""
    say(f"on_thread_error got: {type(exc).__name__}: {exc}")


@on_start
def supervisor_started(process) -> None:
    say(f"hook: supervisor started ({process.mode} mode)")


@on_worker_start
def worker_started(process) -> None:
    say(f"hook: worker started, {process.threads} threads on queues {process.queues}")


@register_hook("worker.stop")
def flaky() -> None:  # hooks may take the process or nothing
    raise RuntimeError("this hook fails; the next one still runs")


@register_hook("worker.stop")
def worker_stopping(process) -> None:
    say("hook: worker stopping")


@on_worker_exit
def worker_exited(process) -> None:
    say("hook: worker exited")


@on_exit
def supervisor_exited(process) -> None:
    say("hook: supervisor exited")


def run_until_done(timeout: float = 30) -> None:
    supervisor = build_supervisor(load_options("default"), install_signals=False)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while Job.objects.filter(finished_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("jobs did not finish in time")
        time.sleep(0.05)
    supervisor.stop()
    thread.join(timeout)


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    for user_id in (1, 2, 3):
        send_welcome_email.enqueue(user_id=user_id)
    run_until_done()
    say(f"finished jobs: {Job.objects.filter(finished_at__isnull=False).count()}")


if __name__ == "__main__":
    main()
