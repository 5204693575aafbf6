"""OpenTelemetry tracing: a PRODUCER span per enqueue, a CONSUMER span per attempt, linked across processes.

At enqueue (``dj_queue_enqueue_headers``) the plugin starts a ``send`` span as a child of the
current context (a request's span, say) and stores its context in the job's ``headers`` through
the global propagator (W3C ``traceparent``/``tracestate`` by default); the span ends once the
jobs are committed (``dj_queue_jobs_created``). A worker, in whatever process, restores that
context and runs each attempt inside a ``process`` span whose parent is the ``send`` span
(``dj_queue_execute``). Attributes follow the messaging semantic conventions. Until an SDK
tracer provider is set the hooks return at once (no span, no headers, and the after-commit hook
that ends send spans is not even registered); without ``opentelemetry-api`` (extra
``dj-queue[otel]``) the hot-path hooks are not implemented at all.
"""

from __future__ import annotations

import importlib.util
import types
from functools import lru_cache
from typing import Any, Iterator

from dj_queue import hookimpl, plugins

SYSTEM = "dj_queue"
# Where the open send span waits, on the first job of its enqueue call, until the commit.
SPAN_KEY = "_dj_queue_otel_span"

# (provider, its tracer): asked for again only when the global provider changes.
_tracer: tuple[Any, Any] | None = None


@lru_cache(maxsize=1)
def available() -> bool:
    """True when ``opentelemetry-api`` is installed."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # no opentelemetry package at all (or a blocked one)
        return False


@lru_cache(maxsize=1)
def _trace_api() -> tuple[Any, tuple[type, ...]]:
    """``opentelemetry.trace`` and its no-op provider classes, imported once (asked once per job)."""
    from opentelemetry import trace

    return trace, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def tracer() -> Any | None:
    """The plugin's tracer, or None while no SDK provider is set: then nothing would be recorded,
    so the hooks return at once (no span, no headers)."""
    global _tracer
    trace, no_op = _trace_api()
    provider = trace.get_tracer_provider()
    if isinstance(provider, no_op):
        return None
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, provider.get_tracer("dj_queue_plugins.otel"))
    return _tracer[1]


def common_attributes(queue_name: str | None, backend_alias: str, operation: str) -> dict[str, Any]:
    attributes = {"messaging.system": SYSTEM, "messaging.operation.type": operation,
                  "messaging.operation.name": operation, "dj_queue.backend": backend_alias}
    if queue_name is not None:
        attributes["messaging.destination.name"] = queue_name
    return attributes


# --- enqueue ---------------------------------------------------------------------------------

def start_send(backend_alias: str, jobs: list) -> dict[str, str] | None:
    """Open the ``send`` span of one enqueue call and return its context as headers."""
    traced_by = tracer()
    if traced_by is None:
        return None
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    queues = {job.queue_name for job in jobs}
    queue = next(iter(queues)) if len(queues) == 1 else None  # a bulk over several queues has none
    attributes = common_attributes(queue, backend_alias, "send")
    if len(jobs) == 1:
        attributes["dj_queue.task.path"] = jobs[0].task_path
    else:
        attributes["messaging.batch.message_count"] = len(jobs)
    span = traced_by.start_span(f"send {queue}" if queue else "send", kind=SpanKind.PRODUCER,
                               attributes=attributes)
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    jobs[0].__dict__[SPAN_KEY] = span  # on the row itself: a rolled-back enqueue leaves nothing behind
    manager = plugins.get_plugin_manager()
    if not manager.has_plugin(ENDER_NAME):
        manager.register(ENDER, name=ENDER_NAME)
    return headers or None


def end_send(jobs: list) -> None:
    """End the ``send`` span of a committed enqueue call, naming the job when there is one."""
    span = jobs[0].__dict__.pop(SPAN_KEY, None) if jobs else None
    if span is None:
        return
    if len(jobs) == 1:
        span.set_attribute("messaging.message.id", str(jobs[0].pk))
    span.end()


# The jobs_created hook that ends send spans, registered by the first traced enqueue of a manager:
# until the SDK is set up, an enqueue does not even schedule an after-commit call for this plugin.
ENDER_NAME = "dj_queue_plugins.otel.end_send"
ENDER = types.SimpleNamespace(dj_queue_jobs_created=hookimpl(end_send))


# --- execution -------------------------------------------------------------------------------

def trace_attempt(job: Any) -> Iterator[None]:
    """Run one attempt inside a ``process`` span, child of the job's ``send`` span when it has one."""
    traced_by = tracer()
    if traced_by is None:
        return (yield)
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    parent = propagate.extract(job.headers) if job.headers else None
    attributes = common_attributes(job.queue_name, job.backend_alias, "process")
    attributes.update({"messaging.message.id": str(job.pk), "dj_queue.task.path": job.task_path,
                       "dj_queue.attempt": max(1, len(job.worker_ids or []))})
    span = traced_by.start_span(f"process {job.queue_name}", context=parent, kind=SpanKind.CONSUMER,
                               attributes=attributes)
    # The span is current while the task runs, so the task's own spans are its children.
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            value = yield
        except BaseException as exc:  # a failure, a timeout, a cancellation: the attempt failed
            span.record_exception(exc)
            span.set_attribute("error.type", f"{type(exc).__module__}.{type(exc).__qualname__}")
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
    return value


# The hot-path hooks are implemented only with opentelemetry-api installed: without it, enqueues
# and job runs do not pay for a plugin that would do nothing.
if available():
    dj_queue_enqueue_headers = hookimpl(start_send)
    dj_queue_execute = hookimpl(wrapper=True)(trace_attempt)
