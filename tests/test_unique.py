"""Declaring unique jobs and resolving their keys."""

from __future__ import annotations

import pytest

from dj_queue.exceptions import EnqueueError
from dj_queue.unique import DEFAULT_STATES, Unique, resolve_key, settings_for, unique
from tests.tasks_app.hooked_tasks import unique_on_arguments, unique_report, unique_short
from tests.tasks_app.tasks import add

PATH = "tests.tasks_app.hooked_tasks."


def test_the_decorator_and_function_attributes_declare_settings():
    assert settings_for(unique_report) == Unique("report:{account_id}", None, DEFAULT_STATES)
    assert settings_for(unique_short) == Unique("short:{account_id}", 60.0, ("ready", "scheduled", "successful"))
    assert settings_for(unique_on_arguments) == Unique(None, None, DEFAULT_STATES)
    assert settings_for(add) is None


def test_keys_are_per_task_and_default_to_the_arguments():
    assert resolve_key(unique_report, settings_for(unique_report), [7], {}) == PATH + "unique_report|report:7"
    on_args = settings_for(unique_on_arguments)
    assert resolve_key(unique_on_arguments, on_args, [1], {"b": 2}) == PATH + 'unique_on_arguments|{"a":1,"b":2}'
    assert resolve_key(unique_on_arguments, on_args, [1, 2], {}) == resolve_key(unique_on_arguments, on_args, [], {"b": 2, "a": 1})


def test_a_long_key_is_stored_hashed_within_the_column():
    key = resolve_key(unique_on_arguments, settings_for(unique_on_arguments), ["x" * 400], {})
    assert len(key) <= 255 and "|sha256:" in key


@pytest.mark.parametrize("kwargs, message", [
    ({"period": 0}, "positive seconds"),
    ({"period": True}, "positive seconds"),
    ({"states": ["ready", "done"]}, "some of"),
    ({"states": []}, "some of"),
    ({"states": "ready"}, "list of states"),
    ({"key": ""}, "template string or a callable"),
])
def test_bad_settings_are_enqueue_errors(kwargs, message):
    with pytest.raises(EnqueueError, match=message):
        unique(**kwargs)


def test_a_bad_attribute_names_the_task():
    class Fake:
        module_path = "tests.fake"

        def func(self):
            pass

    Fake.func.unique_key, Fake.func.unique_states = "k", ["nope"]
    with pytest.raises(EnqueueError, match="task tests.fake"):
        settings_for(Fake())
    del Fake.func.unique_key, Fake.func.unique_states


def test_an_unresolvable_key_is_an_enqueue_error():
    with pytest.raises(EnqueueError, match="cannot resolve unique key"):
        resolve_key(unique_report, Unique("r:{missing}", None), [1], {})
