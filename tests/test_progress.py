"""``dj_queue.api.set_progress`` / ``get_progress``: validation, and reading it back."""

from __future__ import annotations

import pytest

from dj_queue import api
from dj_queue.compat import TaskResultDoesNotExist
from dj_queue.exceptions import EnqueueError
from dj_queue.progress import METADATA_MAX_BYTES
from tests.tasks_app.tasks import add

pytestmark = pytest.mark.django_db


def test_a_new_job_has_no_progress_and_set_progress_records_value_and_metadata():
    result = add.enqueue(1, 2)
    assert api.get_progress(result.id) == {"progress": None, "metadata": None}
    api.set_progress(result.id, 25, {"stage": "download"})
    api.set_progress(int(result.id), 40.5)  # metadata None keeps the previous metadata
    assert api.get_progress(result.id) == {"progress": 40.5, "metadata": {"stage": "download"}}


@pytest.mark.parametrize("value", [-1, 100.5, float("nan"), True, "50", None])
def test_a_progress_outside_0_to_100_raises(value):
    result = add.enqueue(1, 2)
    with pytest.raises(EnqueueError, match="0 to 100"):
        api.set_progress(result.id, value)


@pytest.mark.parametrize("metadata, message", [
    ([1, 2], "must be a dict"),
    ({"when": object()}, "JSON-serialisable"),
    ({"blob": "x" * METADATA_MAX_BYTES}, "limited to"),
])
def test_bad_metadata_raises_and_records_nothing(metadata, message):
    result = add.enqueue(1, 2)
    with pytest.raises(EnqueueError, match=message):
        api.set_progress(result.id, 10, metadata)
    assert api.get_progress(result.id) == {"progress": None, "metadata": None}


def test_unknown_jobs_raise_task_result_does_not_exist():
    with pytest.raises(TaskResultDoesNotExist):
        api.get_progress(999999)
    with pytest.raises(TaskResultDoesNotExist):
        api.set_progress(999999, 10)


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["abc", None, -1, 10**30, True])
def test_lookups_by_a_bad_job_id_say_it_does_not_exist(bad):
    for lookup in (api.get_progress, api.cancel_requested, api.cancel):
        with pytest.raises(TaskResultDoesNotExist):
            lookup(bad)


@pytest.mark.django_db
def test_progress_metadata_that_is_not_json_is_refused(monkeypatch):
    result = add.enqueue(1, 2)
    with pytest.raises(EnqueueError, match="JSON-serialisable"):
        api.set_progress(result.id, 0.5, metadata={"rate": float("nan")})
