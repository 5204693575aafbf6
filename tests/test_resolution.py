"""Safe resolution of stored task paths."""

from __future__ import annotations

import importlib

import pytest

from dj_queue import resolution
from dj_queue.compat import task
from dj_queue.exceptions import TaskResolutionError
from dj_queue.resolution import is_allowed, resolve_task, task_path_for
from tests.tasks_app import tasks


@task
def outside_installed_apps() -> int:
    """Lives in ``tests.test_resolution``: not an installed app, only allowed by ``task_modules``."""
    return 1


def test_resolves_a_task_of_an_installed_app_to_the_same_object():
    assert resolve_task("tests.tasks_app.tasks.add") is tasks.add


def test_task_path_for_is_the_module_path():
    assert task_path_for(tasks.add) == "tests.tasks_app.tasks.add" == tasks.add.module_path
    assert resolve_task(task_path_for(tasks.async_add)) is tasks.async_add


def test_results_are_cached_per_path_and_allowlist(monkeypatch):
    resolve_task("tests.tasks_app.tasks.noop")
    calls = []
    monkeypatch.setattr(resolution.importlib, "import_module", lambda name: calls.append(name))
    assert resolve_task("tests.tasks_app.tasks.noop") is tasks.noop
    assert calls == []


def test_a_module_outside_installed_apps_is_refused_without_importing_it(monkeypatch):
    imported = []
    real_import = importlib.import_module
    monkeypatch.setattr(
        resolution.importlib, "import_module", lambda name: imported.append(name) or real_import(name)
    )
    with pytest.raises(TaskResolutionError, match="not in an installed app"):
        resolve_task("os.path.join")
    with pytest.raises(TaskResolutionError, match="not in an installed app"):
        resolve_task("tests.test_resolution.outside_installed_apps")
    assert imported == []


def test_task_modules_extends_the_allowlist():
    path = "tests.test_resolution.outside_installed_apps"
    assert resolve_task(path, ["tests.test_resolution"]) is outside_installed_apps
    assert resolve_task(path, ("tests",)) is outside_installed_apps


def test_a_prefix_must_end_at_a_dot():
    assert is_allowed("tests.tasks_app.tasks")
    assert is_allowed("tests.tasks_app")
    assert not is_allowed("tests.tasks_app_evil.tasks")
    assert not is_allowed("tests")
    assert is_allowed("tests.things", ["tests.things"]) and not is_allowed("tests.thingsx", ["tests.things"])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.tasks_app.tasks.missing", "has no attribute 'missing'"),
        ("tests.tasks_app.nope.func", "has no attribute 'nope'"),
        ("tests.tasks_app.tasks.task", "is a function, not a task"),
        ("tests.tasks_app.apps.TasksAppConfig", "is a type, not a task"),
        ("add", "not a dotted path"),
        ("", "not a dotted path"),
    ],
)
def test_refusals_explain_themselves(path, message):
    with pytest.raises(TaskResolutionError, match=message):
        resolve_task(path)


def test_an_import_error_inside_an_allowed_module_is_reported(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'somedep'", name="somedep")

    monkeypatch.setattr(resolution.importlib, "import_module", broken)
    with pytest.raises(TaskResolutionError, match="importing it failed with ModuleNotFoundError"):
        resolve_task("tests.tasks_app.broken_module.func")


def test_explaining_a_path_outside_the_allowlist_imports_nothing(monkeypatch):
    from dj_queue import task_lookup

    imported = []
    real_import = importlib.import_module
    spy = lambda name: imported.append(name) or real_import(name)  # noqa: E731
    monkeypatch.setattr(resolution.importlib, "import_module", spy)
    monkeypatch.setattr(task_lookup.importlib, "import_module", spy)
    problem = task_lookup.task_path_problem("tests.test_resolution.outside_installed_apps")
    assert problem == ("task_path 'tests.test_resolution.outside_installed_apps' does not resolve: module "
                       "'tests.test_resolution' is not in an installed app or in OPTIONS['task_modules']")
    assert "tests.test_resolution" not in imported
