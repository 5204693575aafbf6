"""The typed values hooks get: ProcessInfo views of real actors, and the protocols."""

from __future__ import annotations

import dataclasses

import pytest

from dj_queue.dialects import GenericDialect
from dj_queue.runtime.options import load_options
from dj_queue.runtime.supervisor import Supervisor
from dj_queue.runtime.worker import Worker
from dj_queue.types import Dialect, ProcessInfo, Waker
from dj_queue.wakeup import default_waker


@pytest.fixture
def options():
    return load_options("default")


def test_a_worker_view_carries_its_identity_and_metadata(options):
    worker = Worker(queues=["a", "b*"], threads=4, backend_alias="default", options=options)
    worker.name, worker.process_id = "worker-1", 42
    view = worker.view()
    assert (view.kind, view.name, view.pid, view.hostname, view.backend_alias, view.process_id) == (
        "worker", "worker-1", worker.pid, worker.hostname, "default", 42)
    assert (view.queues, view.threads, view.polling_interval) == (["a", "b*"], 4, 0.1)
    assert dict(view.metadata) == worker.metadata()


def test_the_view_is_cached_until_the_actor_registers_again(options):
    worker = Worker(queues=["*"], backend_alias="default", options=options)
    worker.name, worker.process_id = "worker-1", 1
    first = worker.view()
    assert worker.view() is first
    worker.process_id = 2
    assert worker.view() is not first and worker.view().process_id == 2


def test_a_supervisor_view_reads_its_mode(options):
    supervisor = Supervisor(options=options, install_signals=False)
    view = ProcessInfo.of(supervisor)
    assert view.kind == "supervisor" and view.mode == "base"
    assert "worker" in view.actors


def test_a_view_is_frozen_all_the_way_down():
    view = ProcessInfo(kind="worker", name="w", pid=1, hostname="h", backend_alias="default",
                       metadata={"threads": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.name = "other"
    with pytest.raises(TypeError):
        view.metadata["threads"] = 5
    assert view.threads == 3


def test_an_unknown_attribute_names_the_kind():
    view = ProcessInfo(kind="dispatcher", name="d", pid=1, hostname="h", backend_alias="default")
    with pytest.raises(AttributeError) as caught:
        view.threads
    assert str(caught.value) == "ProcessInfo of a dispatcher has no attribute 'threads'"


def test_core_answers_satisfy_the_protocols():
    from django.db import connection

    assert isinstance(GenericDialect(connection), Dialect)
    waker = default_waker("default")
    try:
        assert isinstance(waker, Waker)
    finally:
        waker.close()
    assert not isinstance(object(), Waker)
