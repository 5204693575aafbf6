"""Span exporters for the OpenTelemetry plugin's tests: in memory here, a JSON-lines file in a runtime.

A runtime started by a test (another process, forking workers) configures the SDK at settings
import when ``DJ_QUEUE_TEST_OTEL_FILE`` names a file; every process appends its finished spans
there and the test reads them back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def record(span: ReadableSpan) -> dict[str, Any]:
    """What a test checks of a span, with ids as hex text."""
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [event.name for event in span.events],
        "pid": os.getpid(),
    }


class FileSpanExporter(SpanExporter):
    """Appends every finished span to ``path`` as one JSON line (small appends: processes may share it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(record(span), default=str) + "\n" for span in spans)
        with open(self.path, "a") as file:
            file.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def read_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def configure_from_env() -> None:
    """In a runtime subprocess: export every span to ``DJ_QUEUE_TEST_OTEL_FILE``."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(os.environ["DJ_QUEUE_TEST_OTEL_FILE"])))
    trace.set_tracer_provider(provider)


def in_memory() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A provider exporting to memory, left out of the global state (a test hands its tracer over)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter
