"""``DjQueueLifespan`` driven in-process, the way an ASGI server drives a lifespan scope."""

from __future__ import annotations

import asyncio

import pytest
from django.core.asgi import get_asgi_application

from dj_queue.compat import TaskResultStatus
from dj_queue.models import Process
from dj_queue_plugins.asgi import DjQueueLifespan
from tests.conftest import wait_until
from tests.tasks_app.tasks import add

FAST = {"process_heartbeat_interval": 0.5, "shutdown_timeout": 2,
        "workers": [{"queues": "*", "threads": 2, "polling_interval": 30}], "listen_notify": False}


async def run_lifespan(app, during=None) -> list[dict]:
    """Start the lifespan, call ``during()`` in a thread, shut down; the messages the app sent."""
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    while not sent and not task.done():
        await asyncio.sleep(0.01)
    if sent and sent[0]["type"] == "lifespan.startup.complete":
        if during is not None:
            await asyncio.to_thread(during)
        await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, timeout=30)
    return sent


class LifespanApp:
    """An inner ASGI app with its own lifespan; records what happened, in order."""

    def __init__(self, events: list[str], fail_startup: bool = False, fail_shutdown: bool = False) -> None:
        self.events = events
        self.fail_startup = fail_startup
        self.fail_shutdown = fail_shutdown

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.events.append("http")
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.events.append("inner startup")
                if self.fail_startup:
                    await send({"type": "lifespan.startup.failed", "message": "no cache server"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.fail_shutdown:
                    raise RuntimeError("cache flush failed")
                # The queue runtime is already drained when the inner app shuts down.
                rows = await asyncio.to_thread(Process.objects.count)
                self.events.append(f"inner shutdown, rows={rows}")
                await send({"type": "lifespan.shutdown.complete"})
                return


def supervisor_rows() -> int:
    return Process.objects.filter(kind="supervisor").count()


@pytest.mark.django_db(transaction=True)
def test_django_app_gets_a_runtime_that_runs_in_process_enqueues_at_once():
    seen = {}

    def during():
        seen["supervisors"] = supervisor_rows()
        wait_until(lambda: Process.objects.filter(kind="worker").exists(), message="worker row")
        result = add.enqueue(4, 5)  # polling every 30 s: only the in-process waker runs it quickly
        wait_until(lambda: add.get_result(result.id).status == TaskResultStatus.SUCCESSFUL, timeout=10,
                   message="the job")
        seen["value"] = add.get_result(result.id).return_value

    sent = asyncio.run(run_lifespan(DjQueueLifespan(get_asgi_application(), **FAST), during))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert seen == {"supervisors": 1, "value": 9}
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_wrapped_apps_own_lifespan_runs_around_the_runtime():
    events: list[str] = []
    app = DjQueueLifespan(LifespanApp(events), **FAST)

    sent = asyncio.run(run_lifespan(app, lambda: events.append(f"running, supervisors={supervisor_rows()}")))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["inner startup", "running, supervisors=1", "inner shutdown, rows=0"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_inner_startup_fails_and_starts_no_runtime():
    events: list[str] = []
    sent = asyncio.run(run_lifespan(DjQueueLifespan(LifespanApp(events, fail_startup=True), **FAST)))
    assert sent == [{"type": "lifespan.startup.failed", "message": "no cache server"}]
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_runtime_that_cannot_start_reports_why_and_shuts_the_inner_app_down():
    events: list[str] = []
    sent = asyncio.run(run_lifespan(DjQueueLifespan(LifespanApp(events), worker=[{}])))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "could not start" in sent[0]["message"] and "did you mean 'workers'" in sent[0]["message"]
    assert events == ["inner startup", "inner shutdown, rows=0"]


@pytest.mark.django_db(transaction=True)
def test_a_database_error_at_boot_fails_the_startup(monkeypatch):
    from django.db import OperationalError

    from dj_queue.operations import processes

    def refuse(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(processes, "register", refuse)
    sent = asyncio.run(run_lifespan(DjQueueLifespan(get_asgi_application(), **FAST)))
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "OperationalError: connection refused" in sent[0]["message"]


@pytest.mark.django_db(transaction=True)
def test_an_inner_app_raising_at_shutdown_fails_the_shutdown_after_the_drain():
    sent = asyncio.run(run_lifespan(DjQueueLifespan(LifespanApp([], fail_shutdown=True), **FAST)))
    assert sent[-1] == {"type": "lifespan.shutdown.failed",
                        "message": "the wrapped application's lifespan raised RuntimeError: cache flush failed"}
    assert not Process.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_disabled_lifespan_starts_nothing():
    events: list[str] = []
    sent = asyncio.run(run_lifespan(DjQueueLifespan(LifespanApp(events), enabled=False),
                                    lambda: events.append(f"supervisors={supervisor_rows()}")))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert "supervisors=0" in events


def test_other_scopes_go_to_the_wrapped_app():
    events: list[str] = []

    async def receive():
        return {"type": "http.request"}

    async def send(message):
        pass

    asyncio.run(DjQueueLifespan(LifespanApp(events))({"type": "http"}, receive, send))
    assert events == ["http"]


def test_wrapping_something_that_is_not_an_app_is_refused():
    with pytest.raises(TypeError, match="wraps an ASGI application"):
        DjQueueLifespan(None)


def test_contrib_path_is_the_same_class():
    from dj_queue.contrib.asgi import DjQueueLifespan as contrib

    assert contrib is DjQueueLifespan
