"""OpenTelemetry traces of a request's tasks: the enqueue span is the parent of every attempt's span.

    pip install 'dj-queue[otel]' opentelemetry-sdk
    python examples/otel_tracing.py          # SQLite in a temporary file
    DJ_QUEUE_EXAMPLE_DB=postgres python examples/otel_tracing.py   # or mysql (see examples/README.md)

A "POST /checkout" span (what a web framework's instrumentation would open) enqueues a welcome
e-mail and a card charge that succeeds on its third attempt; an in-process async runtime runs
them. The SDK here keeps finished spans in memory and the script prints them as the tree a
tracing backend (Jaeger, Tempo, Honeycomb...) would draw. In a project, configure the SDK with an
exporter (OTLP, say) at startup, in the web processes and in ``manage.py dj_queue`` alike.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from example_app.setup import configure

# The SDK comes first: from then on the plugin records spans (before, it does nothing).
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

configure({"mode": "async", "workers": [{"queues": "*", "threads": 2, "polling_interval": 0.1}],
           "dispatchers": [{"polling_interval": 0.1}]},
          LOGGING={"version": 1, "loggers": {"dj_queue": {"level": "CRITICAL"}}})

from django.core.management import call_command  # noqa: E402

from dj_queue.models import Job  # noqa: E402
from dj_queue.runtime.threaded import EmbeddedRuntime  # noqa: E402
from example_app.tasks import charge_card, send_welcome_email  # noqa: E402

SHOWN = ("messaging.message.id", "dj_queue.attempt", "error.type")


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the runtime")
        time.sleep(0.05)


def print_tree(spans, parent_id=None, depth=0) -> None:
    children = [s for s in spans if (s.parent.span_id if s.parent else None) == parent_id]
    for span in sorted(children, key=lambda s: s.start_time):
        details = ", ".join(f"{key}={span.attributes[key]}" for key in SHOWN if key in span.attributes)
        print(f"{'  ' * depth}{span.name} [{span.kind.name}, {span.status.status_code.name}] {details}".rstrip())
        print_tree(spans, span.context.span_id, depth + 1)


def main() -> None:
    call_command("migrate", verbosity=0)
    Job.objects.all().delete()
    with trace.get_tracer("shop").start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER):
        send_welcome_email.enqueue(1)
        charge_card.enqueue(7)
    runtime = EmbeddedRuntime.from_settings()
    runtime.start()
    try:
        wait_for(lambda: not Job.objects.filter(finished_at__isnull=True).exists())
        # The last span ends right after the job's completion commits.
        wait_for(lambda: sum(s.name.startswith("process") for s in exporter.get_finished_spans()) == 4)
    finally:
        runtime.stop()
    spans = exporter.get_finished_spans()
    print_tree(spans)
    print(f"one trace: {len({span.context.trace_id for span in spans}) == 1}")
    print(f"trace context stored with the job: {sorted(Job.objects.first().headers)}")


if __name__ == "__main__":
    main()
