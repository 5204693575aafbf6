"""Declaring concurrency controls and resolving their keys."""

from __future__ import annotations

import pytest

from dj_queue.compat import InvalidTask, task
from dj_queue.concurrency import Concurrency, concurrency, resolve_key, settings_for
from dj_queue.exceptions import EnqueueError
from tests.tasks_app.tasks import add, build_report, sync_account


def test_the_decorator_and_function_attributes_declare_the_same_settings():
    assert settings_for(sync_account) == Concurrency("account:{account_id}", 1, 60.0, "block")
    assert settings_for(build_report).on_conflict == "discard"
    assert settings_for(add) is None


def test_keys_resolve_from_positional_keyword_and_default_arguments():
    settings = Concurrency("account:{account_id}/{note}", 1)
    assert resolve_key(sync_account, settings, [7], {}) == "account:7/"
    assert resolve_key(sync_account, settings, [], {"account_id": 8, "note": "x"}) == "account:8/x"
    assert resolve_key(sync_account, Concurrency(lambda account_id, note="": f"a{account_id}", 1), [9], {}) == "a9"


class FakeTask:
    module_path = "tests.fake"
    takes_context = False

    def __init__(self, **attrs):
        def func(account_id):
            return account_id

        for name, value in attrs.items():
            setattr(func, name, value)
        self.func = func


@pytest.mark.parametrize("attrs, message", [
    ({"concurrency_key": "a:{account_id}"}, "concurrency_limit is not"),
    ({"concurrency_limit": 2}, "concurrency_key is not"),
    ({"concurrency_key": "a", "concurrency_limit": 0}, "positive int"),
    ({"concurrency_key": "a", "concurrency_limit": 1, "concurrency_on_conflict": "queue"}, "must be one of"),
    ({"concurrency_key": "a", "concurrency_limit": 1, "concurrency_duration": -1}, "positive seconds"),
])
def test_invalid_settings_are_enqueue_errors_naming_the_task(attrs, message):
    with pytest.raises(EnqueueError, match=message) as info:
        settings_for(FakeTask(**attrs))
    assert "tests.fake" in str(info.value)
    assert isinstance(info.value, InvalidTask)


@pytest.mark.parametrize("key, message", [
    ("a:{missing}", "cannot resolve"),
    (lambda account_id: "", "non-empty string"),
    (lambda account_id: 5, "non-empty string"),
    (lambda account_id: "x" * 256, "longer than 255"),
])
def test_unresolvable_or_bad_keys_are_enqueue_errors(key, message):
    with pytest.raises(EnqueueError, match=message):
        resolve_key(FakeTask(), Concurrency(key, 1), [1], {})


def test_decorator_works_above_task_too():
    def raw(account_id):
        return account_id

    decorated = concurrency(key="k:{account_id}", limit=3)(raw)
    assert decorated is raw and raw.concurrency_limit == 3
    assert task is not None  # the decorator applies to Task objects through their .func


# The original dj_queue README's spelling: func.concurrency_key / concurrency_limit /
# concurrency_duration / on_conflict, one test per attribute.

def test_readme_spelling_concurrency_key_and_limit():
    settings = settings_for(FakeTask(concurrency_key="account:{account_id}", concurrency_limit=1))
    assert settings == Concurrency("account:{account_id}", 1, 900.0, "block")


def test_readme_spelling_concurrency_duration():
    settings = settings_for(FakeTask(concurrency_key="a", concurrency_limit=1, concurrency_duration=60))
    assert settings.duration == 60.0


@pytest.mark.parametrize("value", ["block", "discard"])
def test_readme_spelling_on_conflict(value):
    assert settings_for(FakeTask(concurrency_key="a", concurrency_limit=1, on_conflict=value)).on_conflict == value


@pytest.mark.parametrize("attrs, message", [
    ({"concurrency_key": "a", "concurrency_limit": 1, "on_conflict": "skip"}, "on_conflict must be one of"),
    ({"concurrency_key": "a", "concurrency_limit": 1, "on_conflict": "block",
      "concurrency_on_conflict": "discard"}, "disagree"),
    ({"on_conflict": "discard"}, "on_conflict is set but concurrency_key is not"),
])
def test_bad_on_conflict_values_are_enqueue_errors(attrs, message):
    with pytest.raises(EnqueueError, match=message):
        settings_for(FakeTask(**attrs))


def test_both_spellings_may_agree():
    attrs = {"concurrency_key": "a", "concurrency_limit": 1, "on_conflict": "discard",
             "concurrency_on_conflict": "discard"}
    assert settings_for(FakeTask(**attrs)).on_conflict == "discard"
