"""Workflows: a chain passing values on, a group with a callback and a shared workspace, a failed
step stopping its chain, and cancelling a workflow.

    python examples/workflows.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/workflows.py   # or mysql (see examples/README.md)

See docs/workflows.md.
"""

from __future__ import annotations

from example_app.setup import configure, wait_for

configure(
    {"workers": [{"queues": "*", "threads": 2, "polling_interval": 0.05}]},
    LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}},
)

from django.core.management import call_command  # noqa: E402

from dj_queue.models import Job, Workflow, WorkflowStep  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from dj_queue.workflows import cancel_workflow, chain, group, step  # noqa: E402
from example_app.workflow_tasks import (  # noqa: E402
    charge, email_invoice, fetch_order, price_order, publish, resize)


def ended(workflow: Workflow) -> bool:
    workflow.refresh_from_db()
    return workflow.status != Workflow.Status.RUNNING


def steps(workflow: Workflow) -> str:
    rows = WorkflowStep.objects.filter(workflow=workflow, kind="task").order_by("pk")
    return ", ".join(f"{row.task_path.rsplit('.', 1)[-1]} {row.status}" for row in rows)


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    Workflow.objects.all().delete()

    # Cancelled before any worker runs: its waiting job and the steps after it never run.
    doomed = chain(step(fetch_order, 9), step(price_order, 0.2)).enqueue(name="cancelled")
    print(f"cancel_workflow: {cancel_workflow(doomed.pk)} steps cancelled")

    invoice = chain(step(fetch_order, 7), step(price_order, 0.2), step(email_invoice)).enqueue(name="invoice")
    images = group(step(resize, 100), step(resize, 400), on_success=step(publish)).enqueue(
        name="thumbnails", workspace={"images": 0})
    failing = chain(step(fetch_order, 8), (price_order, [0.2], {}), step(charge), step(email_invoice)).enqueue()

    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: all(ended(w) for w in (invoice, images, failing)))
    finally:
        runtime.stop()

    last = Job.objects.get(workflow_step_id__isnull=False, task_path=email_invoice.module_path)
    print(f"chain: {invoice.status}, last step got {last.args}, returned {last.return_value!r}")
    callback = Job.objects.get(task_path=publish.module_path)
    print(f"group: {images.status}, callback got {callback.args}, returned {callback.return_value!r}")
    print(f"workspace: {images.workspace}")
    print(f"failed chain: {failing.status}: {steps(failing)}")
    doomed.refresh_from_db()
    print(f"cancelled workflow: {doomed.status}: {steps(doomed)}")


if __name__ == "__main__":
    main()
