"""``DjQueueRouter`` decisions, read from ``TASKS`` (no database needed)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from dj_queue.models import FailedExecution, Job, Process
from dj_queue.routers import DjQueueRouter, queue_aliases
from tests.tasks_app.models import SideEffect

BACKEND = "dj_queue.backend.DjQueueBackend"


def tasks_setting(*aliases: str | None, other: bool = False) -> dict:
    """One DjQueueBackend per entry (``None``: no ``database_alias`` option), plus a foreign backend."""
    setting = {
        f"b{i}": {"BACKEND": BACKEND, "OPTIONS": {} if alias is None else {"database_alias": alias}}
        for i, alias in enumerate(aliases)
    }
    if other:
        setting = {"immediate": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
                                 "OPTIONS": {"database_alias": "elsewhere"}}, **setting}
    return setting


@pytest.fixture
def router() -> DjQueueRouter:
    return DjQueueRouter()


@pytest.mark.parametrize("aliases, expected", [
    ((None,), ["default"]),
    (("queue",), ["queue"]),
    (("queue", None, "queue", "archive"), ["queue", "default", "archive"]),
    ((), ["default"]),
])
def test_queue_aliases_in_tasks_order_without_duplicates(aliases, expected):
    with override_settings(TASKS=tasks_setting(*aliases)):
        assert queue_aliases() == expected


def test_other_task_backends_are_ignored():
    with override_settings(TASKS=tasks_setting("queue", other=True)):
        assert queue_aliases() == ["queue"]


@pytest.mark.parametrize("model", [Job, FailedExecution, Process])
def test_dj_queue_models_read_and_write_on_the_queue_alias(router, model):
    with override_settings(TASKS=tasks_setting("queue")):
        assert router.db_for_read(model) == "queue"
        assert router.db_for_write(model) == "queue"


@pytest.mark.parametrize("model", [User, SideEffect])
def test_other_models_are_left_to_other_routers(router, model):
    with override_settings(TASKS=tasks_setting("queue")):
        assert router.db_for_read(model) is None
        assert router.db_for_write(model) is None


def test_relations_stay_inside_dj_queue(router):
    job, failed, user, effect = Job(), FailedExecution(), User(), SideEffect()
    assert router.allow_relation(job, failed) is True
    assert router.allow_relation(job, user) is False
    assert router.allow_relation(effect, job) is False
    assert router.allow_relation(user, effect) is None


def test_migrations_go_only_to_queue_aliases(router):
    with override_settings(TASKS=tasks_setting("queue", "archive")):
        assert router.allow_migrate("queue", "dj_queue") is True
        assert router.allow_migrate("archive", "dj_queue", model_name="job") is True
        assert router.allow_migrate("default", "dj_queue") is False
        assert router.allow_migrate("default", "auth") is None
        assert router.allow_migrate("queue", "tasks_app") is None


def test_default_alias_keeps_everything_on_default(router):
    with override_settings(TASKS=tasks_setting(None)):
        assert router.db_for_write(Job) == "default"
        assert router.allow_migrate("default", "dj_queue") is True
        assert router.allow_migrate("other", "dj_queue") is False
