"""The OpenTelemetry plugin: send and process spans, their parentage in this process and across a fork-mode runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import transaction

from dj_queue import plugins
from dj_queue.compat import task_backends
from dj_queue.models import Job
from dj_queue.operations import processes
from dj_queue.operations.claim import claim
from dj_queue.operations.dispatch import dispatch_due
from dj_queue.operations.execute import execute
from dj_queue_plugins import otel
from tests.conftest import wait_until
from tests.e2e.conftest import ROOT, Runtime
from tests.otel_export import in_memory, read_file
from tests.tasks_app import tasks

TASKS = "tests.tasks_app.tasks."


@pytest.fixture
def spans(monkeypatch):
    """The SDK for this test only (not the global provider): the list of finished spans, as ``record``s."""
    from tests.otel_export import record

    assert plugins.get_plugin_manager().has_plugin("dj_queue_plugins.otel")
    provider, exporter = in_memory()
    monkeypatch.setattr(otel, "tracer", lambda: provider.get_tracer("test"))

    class Finished:
        tracer = provider.get_tracer("test")

        def __call__(self) -> list[dict]:
            return [record(span) for span in exporter.get_finished_spans()]

        def named(self, name: str) -> list[dict]:
            return [span for span in self() if span["name"] == name]

    yield Finished()
    provider.shutdown()
    manager = plugins.get_plugin_manager()
    if manager.has_plugin(otel.ENDER_NAME):
        manager.unregister(name=otel.ENDER_NAME)


def work_off(worker, limit: int = 10) -> None:
    for _ in range(limit):
        claimed = claim(backend_alias="default", using="default", selectors=["*"], limit=1,
                        process_id=worker.pk, worker_id=worker.name)
        if not claimed:
            return
        execute(claimed[0], backend=task_backends["default"], process_id=worker.pk, using="default")


@pytest.mark.django_db
def test_the_process_span_continues_the_trace_of_the_enqueue(spans, django_capture_on_commit_callbacks):
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    with spans.tracer.start_as_current_span("request"):
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.add.enqueue(1, 2)
    with django_capture_on_commit_callbacks(execute=True):
        work_off(worker)
    (request,), (send,), (process,) = spans.named("request"), spans.named("send default"), spans.named("process default")
    assert send["parent_id"] == request["span_id"] and send["kind"] == "PRODUCER"
    assert process["parent_id"] == send["span_id"] and process["kind"] == "CONSUMER"
    assert request["trace_id"] == send["trace_id"] == process["trace_id"]
    assert send["attributes"] == {
        "messaging.system": "dj_queue", "messaging.operation.type": "send", "messaging.operation.name": "send",
        "messaging.destination.name": "default", "messaging.message.id": str(result.id),
        "dj_queue.backend": "default", "dj_queue.task.path": TASKS + "add",
    }
    assert process["attributes"] == {
        "messaging.system": "dj_queue", "messaging.operation.type": "process",
        "messaging.operation.name": "process", "messaging.destination.name": "default",
        "messaging.message.id": str(result.id), "dj_queue.backend": "default",
        "dj_queue.task.path": TASKS + "add", "dj_queue.attempt": 1,
    }
    assert process["status"] == "UNSET"
    assert set(Job.objects.get(pk=result.id).headers) == {"traceparent"}


@pytest.mark.django_db
def test_a_failed_attempt_marks_its_span_as_an_error_and_a_retry_is_a_second_child(
        spans, django_capture_on_commit_callbacks):
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.fail.enqueue("boom")
        tasks.fails_until.enqueue(2)
    with django_capture_on_commit_callbacks(execute=True):
        work_off(worker)
    with django_capture_on_commit_callbacks(execute=True):  # the retry is due at once (backoff 0)
        dispatch_due(backend_alias="default", using="default")
        work_off(worker)
    sends = {span["attributes"]["dj_queue.task.path"]: span for span in spans.named("send default")}
    processed = [(span["attributes"]["dj_queue.task.path"].removeprefix(TASKS), span["attributes"]["dj_queue.attempt"],
                  span["status"], span["attributes"].get("error.type"), span["events"],
                  span["parent_id"] == sends[span["attributes"]["dj_queue.task.path"]]["span_id"])
                 for span in spans.named("process default")]
    assert sorted(processed) == [
        ("fail", 1, "ERROR", "builtins.ValueError", ["exception"], True),
        ("fails_until", 1, "ERROR", "tests.tasks_app.tasks.Transient", ["exception"], True),
        ("fails_until", 2, "UNSET", None, [], True),
    ]


@pytest.mark.django_db
def test_a_bulk_enqueue_is_one_send_span_parent_of_every_job(spans, django_capture_on_commit_callbacks):
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    backend = task_backends["default"]
    with django_capture_on_commit_callbacks(execute=True):
        backend.enqueue_all([(tasks.add, [i, 1], {}) for i in range(3)] + [(tasks.important, [1], {})])
    with django_capture_on_commit_callbacks(execute=True):
        work_off(worker)
    (send,) = spans.named("send")  # two queues: no destination in the name
    assert send["attributes"]["messaging.batch.message_count"] == 4
    assert "messaging.destination.name" not in send["attributes"]
    children = spans.named("process default") + spans.named("process high")
    assert len(children) == 4 and {span["parent_id"] for span in children} == {send["span_id"]}


@pytest.mark.django_db
def test_a_rolled_back_enqueue_exports_no_send_span(spans):
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(1, 2)
        raise RuntimeError("rolled back")
    assert spans() == [] and not Job.objects.exists()


@pytest.mark.django_db
def test_without_an_sdk_nothing_is_recorded_or_stored(django_capture_on_commit_callbacks):
    assert otel.tracer() is None  # no global provider is set in the test process
    manager = plugins.get_plugin_manager()
    worker = processes.register(kind="worker", backend_alias="default", using="default")
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.add.enqueue(1, 2)
        tasks.fail.enqueue("boom")
    with django_capture_on_commit_callbacks(execute=True):
        work_off(worker)
    assert Job.objects.get(pk=result.id).return_value == 3
    assert list(Job.objects.values_list("headers", flat=True)) == [None, None]
    # No after-commit call is even scheduled for the plugin: its jobs_created hook is not registered.
    assert not manager.has_plugin(otel.ENDER_NAME)
    assert "dj_queue_plugins.otel" not in {impl.plugin_name for impl in manager.hook.dj_queue_jobs_created.get_hookimpls()}


@pytest.mark.django_db
def test_the_first_traced_enqueue_registers_the_hook_that_ends_send_spans(spans, django_capture_on_commit_callbacks):
    manager = plugins.get_plugin_manager()
    assert not manager.has_plugin(otel.ENDER_NAME)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.add.enqueue(1, 2)  # registered before the job is written: this very span ends too
        tasks.add.enqueue(3, 4)
    assert manager.get_plugin(otel.ENDER_NAME) is otel.ENDER
    assert len(spans.named("send default")) == 2


def test_the_plugin_imports_and_stays_quiet_without_opentelemetry():
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from dj_queue_plugins import otel\n"
        "print(otel.available(), [hasattr(otel, name) for name in ('dj_queue_enqueue_headers', 'dj_queue_execute')])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False [False, False]"  # the hooks are not even implemented


def test_the_global_provider_is_picked_up_once_set():
    code = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from dj_queue_plugins import otel\n"
        "before = otel.tracer()\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "print(before is None, otel.tracer() is not None, otel.tracer() is otel.tracer())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True True True"


# --- across processes ------------------------------------------------------------------------

@pytest.fixture
def fork_runtime(tmp_path, monkeypatch):
    """A fork-mode runtime whose processes export their spans to a file (see tests/otel_export.py)."""
    path = tmp_path / "spans.jsonl"
    monkeypatch.setenv("DJ_QUEUE_TEST_OTEL_FILE", str(path))
    runtime = Runtime(tmp_path, "fork", {}, [], name="otel")
    try:
        yield runtime, path
    finally:
        runtime.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_across_processes_the_enqueue_span_is_the_parent_of_the_execution_span(spans, fork_runtime):
    runtime, path = fork_runtime
    with spans.tracer.start_as_current_span("request"):
        ok = tasks.add.enqueue(2, 3)
        failed = tasks.fail.enqueue("across")
        timed_out = tasks.busy_loop.enqueue(30)  # its timeout (0.5 s) ends it in the worker
    sends = {span["attributes"]["messaging.message.id"]: span for span in spans.named("send default")}

    def processed() -> dict[str, dict]:
        return {span["attributes"]["messaging.message.id"]: span for span in read_file(path)
                if span["name"] == "process default"}

    try:
        found = wait_until(lambda: len(processed()) == 3 and processed(), timeout=90,
                           message="the three process spans in the runtime's file")
    except BaseException:
        print(runtime.log())
        raise
    for result, status in ((ok, "UNSET"), (failed, "ERROR"), (timed_out, "ERROR")):
        send, process = sends[str(result.id)], found[str(result.id)]
        assert process["pid"] != runtime.pid and process["kind"] == "CONSUMER"  # a forked worker ran it
        assert (process["trace_id"], process["parent_id"]) == (send["trace_id"], send["span_id"])
        assert process["status"] == status
    assert found[str(timed_out.id)]["attributes"]["error.type"] == "dj_queue.exceptions.JobTimeoutError"
    assert found[str(failed.id)]["events"] == ["exception"]
    assert Job.objects.get(pk=ok.id).return_value == 5
