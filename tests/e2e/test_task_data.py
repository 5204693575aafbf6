"""A real ``manage.py dj_queue`` worker runs a task a non-app package defines (the Wagtail case),
and values come back as tasks returned them, key order included."""

from __future__ import annotations

import pytest

from dj_queue.compat import TaskResultStatus, task_backends
from tests.conftest import wait_until
from tests.modelsearch.tasks import update_index
from tests.tasks_app import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def finished(result) -> bool:
    return task_backends["default"].get_result(result.id).is_finished


def test_a_task_of_a_package_an_installed_app_imports_runs_without_task_modules(start_runtime):
    # tests.search_app (installed) imports tests.modelsearch (no app) as wagtail.search imports
    # modelsearch; the settings are the README's: no task_modules.
    assert "task_modules" not in task_backends["default"].params["OPTIONS"]
    enqueued = update_index.enqueue("page", pk=42)
    start_runtime("fork")
    wait_until(lambda: finished(enqueued), timeout=60, message="the modelsearch task")
    result = update_index.get_result(enqueued.id)
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == {"indexed": "page:42"} and result.task is update_index


def test_return_values_and_arguments_keep_their_key_order(start_runtime):
    value = tasks.unsorted_keys.enqueue()
    args = [{"y": 1, "x": 2}]
    kwargs = {"zeta": {"n": 1, "m": 2}, "alpha": 1}
    echoed = tasks.echo.enqueue(*args, **kwargs)
    start_runtime("fork")
    wait_until(lambda: finished(value) and finished(echoed), timeout=60, message="both tasks")

    result = tasks.unsorted_keys.get_result(value.id)
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert list(result.return_value) == ["b", "a", "c"]
    assert list(result.return_value["c"]) == ["z", "y"]

    result = tasks.echo.get_result(echoed.id)
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert (list(result.args[0]), list(result.kwargs), list(result.kwargs["zeta"])) == (
        ["y", "x"], ["zeta", "alpha"], ["n", "m"])
    # What the task received, in the order it received it.
    received_args, received_kwargs = result.return_value
    assert list(received_args[0]) == ["y", "x"]
    assert list(received_kwargs) == ["zeta", "alpha"] and list(received_kwargs["zeta"]) == ["n", "m"]
