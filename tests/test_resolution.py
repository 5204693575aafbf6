"""Safe resolution of stored task paths."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from dj_queue import resolution
from dj_queue.compat import task
from dj_queue.exceptions import TaskResolutionError
from dj_queue.resolution import enqueue_refusal, is_allowed, resolve_task, task_path_for
from tests.modelsearch.tasks import update_index
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
    with pytest.raises(TaskResolutionError) as refused:
        resolve_task("tests.never_imported.func")
    assert str(refused.value) == (
        "dj_queue: refusing task 'tests.never_imported.func': module 'tests.never_imported' is not in "
        "an installed app or in OPTIONS['task_modules'], and the application has loaded no task at that path"
    )
    # Already imported, but no task: refused all the same.
    with pytest.raises(TaskResolutionError, match="module 'os.path' is not in an installed app"):
        resolve_task("os.path.join")
    assert imported == [] and "tests.never_imported" not in sys.modules


def test_a_task_of_a_module_the_application_imported_resolves_without_the_allowlist(monkeypatch):
    monkeypatch.setattr(resolution.importlib, "import_module", lambda name: pytest.fail(f"imported {name}"))
    # tests.test_resolution is no app, but it is imported and defines this task.
    assert resolve_task("tests.test_resolution.outside_installed_apps") is outside_installed_apps
    assert resolve_task("tests.modelsearch.tasks.update_index") is update_index


def test_outside_the_allowlist_lookups_run_no_module_code(monkeypatch):
    calls = []
    lazy = types.ModuleType("tests.lazy_library")
    # A PEP 562 hook like this one may import submodules on attribute access.
    lazy.__getattr__ = lambda name: calls.append(name) or outside_installed_apps
    monkeypatch.setitem(sys.modules, "tests.lazy_library", lazy)
    with pytest.raises(TaskResolutionError, match="has loaded no task at that path"):
        resolve_task("tests.lazy_library.anything")
    assert calls == []


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
    # A module nobody imported: an already-imported one (this test module) would resolve.
    problem = task_lookup.task_path_problem("tests.never_imported.outside_installed_apps")
    assert problem == ("task_path 'tests.never_imported.outside_installed_apps' does not resolve: module "
                       "'tests.never_imported' is not in an installed app or in OPTIONS['task_modules']")
    assert "tests.never_imported" not in imported


def test_tasks_created_while_django_starts_are_remembered():
    # tests.search_app's models imported tests.modelsearch.tasks during app loading.
    assert "tests.modelsearch.tasks" in resolution._startup_modules
    # This module was imported by pytest after Django had started.
    assert __name__ not in resolution._startup_modules


def test_enqueue_refusal_accepts_what_workers_resolve():
    assert enqueue_refusal(tasks.add) is None  # an installed app
    assert enqueue_refusal(update_index) is None  # imported while Django started
    assert enqueue_refusal(outside_installed_apps, ["tests.test_resolution"]) is None


def test_enqueue_refusal_names_the_fix_for_a_module_workers_would_not_load():
    assert enqueue_refusal(outside_installed_apps) == (
        "module 'tests.test_resolution' is not in an installed app or OPTIONS['task_modules'] and was "
        "not imported while Django started, so workers would refuse it; add 'tests.test_resolution' "
        "to OPTIONS['task_modules'] or its app to INSTALLED_APPS"
    )


def _renamed() -> int:
    return 2


renamed_task = task(_renamed)  # stored as "..._renamed", where the module holds the plain function


def test_enqueue_refusal_of_a_task_not_found_under_its_own_path():
    assert enqueue_refusal(renamed_task, ["tests.test_resolution"]) == (
        "workers look the task up as 'tests.test_resolution._renamed' and would find a function there; "
        "define it with @task at module level under its function's name"
    )
