"""The scheduler actor: a configuration whose task paths do not resolve never rewrites the stored tasks."""

from __future__ import annotations

import logging

import pytest

from dj_queue.models import Process, RecurringTask
from dj_queue.operations import recurring
from dj_queue.runtime.scheduler import Scheduler
from tests.conftest import wait_until
from tests.runtime.helpers import Running, options

pytestmark = pytest.mark.django_db(transaction=True)

HEALTHY = {"nightly": {"task_path": "tests.tasks_app.tasks.noop", "schedule": "0 3 * * *"},
           "hourly": {"task_path": "tests.tasks_app.tasks.add", "schedule": "0 * * * *", "args": [1, 2]}}


def _stored() -> dict[str, str]:
    return dict(RecurringTask.objects.values_list("key", "task_path"))


def _run_until(scheduler: Scheduler, predicate, message: str) -> None:
    running = Running(scheduler)
    try:
        wait_until(predicate, timeout=10, message=message)
    finally:
        running.stop()
    assert not Process.objects.exists()


def test_a_scheduler_whose_task_path_does_not_resolve_keeps_the_stored_tasks(caplog):
    recurring.sync_static_tasks(HEALTHY, backend_alias="default", using="default")
    broken = {"nightly": {"task_path": "tests.tasks_app.tasks.nopp", "schedule": "0 4 * * *"}}
    caplog.set_level(logging.ERROR, logger="dj_queue.scheduler")
    scheduler = Scheduler(backend_alias="default", options=options(recurring=broken), polling_interval=0.05)
    _run_until(scheduler, lambda: any(r.name == "dj_queue.scheduler" for r in caplog.records), "the error line")
    assert _stored() == {"nightly": "tests.tasks_app.tasks.noop", "hourly": "tests.tasks_app.tasks.add"}
    assert RecurringTask.objects.get(key="nightly").schedule == "0 3 * * *"
    assert [(r.getMessage(), r.exc_info) for r in caplog.records if r.name == "dj_queue.scheduler"] == [(
        "dj_queue scheduler: not syncing the recurring tasks of backend 'default' (the stored ones are kept): "
        "recurring task 'nightly': task_path 'tests.tasks_app.tasks.nopp' does not resolve: module "
        "'tests.tasks_app.tasks' has no attribute 'nopp'; did you mean 'tests.tasks_app.tasks.noop'?",
        None,
    )]


def test_a_healthy_scheduler_syncs_the_settings():
    recurring.sync_static_tasks(HEALTHY, backend_alias="default", using="default")
    fixed = {"nightly": {"task_path": "tests.tasks_app.tasks.important", "schedule": "0 4 * * *", "args": [1]}}
    scheduler = Scheduler(backend_alias="default", options=options(recurring=fixed), polling_interval=0.05)
    _run_until(scheduler, lambda: "hourly" not in _stored(), "the settings synced")
    assert _stored() == {"nightly": "tests.tasks_app.tasks.important"}
