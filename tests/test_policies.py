"""Per-task failure handling: the decorators, attributes, defaults and validation."""

from __future__ import annotations

import pytest

from dj_queue import policies
from dj_queue.api import delivery, exactly_once, retry, timeout
from dj_queue.compat import task
from dj_queue.config import validate
from dj_queue.exceptions import ConfigurationError, EnqueueError
from dj_queue.policies import Policy, backoff_delay, policy_for


def options(**values):
    return validate(values)


def plain(x):
    return x


@task
@retry(max_attempts=4, backoff=7, retry_on=KeyError)
@timeout(12)
@delivery("at_most_once", crash_limit=5)
def decorated(x):
    return x


def test_decorators_set_the_policy():
    assert policy_for(decorated, options()) == Policy(
        max_attempts=4, backoff=7, retry_on=(KeyError,), timeout=12, delivery="at_most_once", crash_limit=5)


def test_function_attributes_work_like_the_decorators():
    def func(x):
        return x

    func.retry_max_attempts, func.retry_backoff, func.timeout, func.delivery = 2, 1.5, 3, "at_most_once"
    policy = policy_for(func, options())
    assert (policy.max_attempts, policy.backoff, policy.timeout, policy.delivery) == (2, 1.5, 3, "at_most_once")


def test_defaults_come_from_options():
    policy = policy_for(plain, options(retry={"max_attempts": 3, "backoff": 2, "retry_on": ["builtins.KeyError"]},
                                       timeout=9, delivery="at_most_once", crash_limit=7))
    assert policy == Policy(3, 2, (KeyError,), 9, "at_most_once", 7)
    assert policy_for(plain, options()) == Policy()  # no retries, no timeout, at least once


def test_should_retry_counts_attempts_and_matches_errors():
    policy = Policy(max_attempts=3, retry_on=(KeyError,))
    assert policy.should_retry(KeyError(), 1) and policy.should_retry(KeyError(), 2)
    assert not policy.should_retry(KeyError(), 3)
    assert not policy.should_retry(ValueError(), 1)


def test_backoff_forms():
    assert backoff_delay(4, 3) == 4.0
    assert backoff_delay(lambda attempt: attempt * 10, 3) == 30.0
    for attempt, ceiling in ((1, 5), (2, 10), (3, 20), (20, policies.BACKOFF_CAP)):
        delays = [backoff_delay(None, attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_backoff_as_a_dotted_path_in_options():
    policy = policy_for(plain, options(retry={"max_attempts": 2, "backoff": "tests.test_policies.ten"}))
    assert policy.delay(1) == 10.0


def ten(attempt):
    return 10


def test_exactly_once_bare_and_with_an_alias():
    def a(x):
        return x

    def b(x):
        return x

    exactly_once(a)
    exactly_once(using="queue")(b)
    assert policy_for(a, options()).exactly_once == "default"
    assert policy_for(b, options()).exactly_once == "queue"
    assert policy_for(plain, options()).exactly_once is None


@pytest.mark.parametrize(("make", "message"), [
    (lambda: retry(max_attempts=0), "retry(max_attempts=...) must be a positive int, got 0"),
    (lambda: timeout(-1), "timeout(...) must be positive seconds, got -1"),
    (lambda: delivery("twice"), "delivery must be one of at_least_once, at_most_once, got 'twice'"),
    (lambda: delivery("at_least_once", crash_limit=0), "delivery(crash_limit=...) must be a positive int, got 0"),
    (lambda: retry(retry_on="ValueError"), "retry(retry_on=...): cannot import 'ValueError'"),
    (lambda: retry(retry_on=[ValueError, 3]), "retry(retry_on=...) must be exception classes (or dotted paths "
                                              "to them), got [<class 'ValueError'>, 3]"),
    (lambda: retry(retry_on=[]), "retry(retry_on=...) must be exception classes"),
    (lambda: retry(backoff=lambda: 5), "retry(backoff=...): a callable backoff must take one argument"),
    (lambda: retry(backoff=-1), "retry(backoff=...) must be seconds >= 0, a callable or None, got -1"),
    (lambda: retry(backoff=float("inf")), "retry(backoff=...) must be seconds >= 0"),
])
def test_bad_decorator_arguments_raise_enqueue_error(make, message):
    with pytest.raises(EnqueueError) as info:
        make()
    assert str(info.value).startswith(message)


def test_retry_on_takes_a_list_or_dotted_paths_as_well_as_a_tuple():
    def func(x):
        return x

    retry(retry_on=[KeyError, "builtins.ValueError"])(func)
    assert policy_for(func, options()).retry_on == (KeyError, ValueError)
    func.retry_on = ["builtins.LookupError"]  # the attribute form, checked the same way
    assert policy_for(func, options()).retry_on == (LookupError,)
    func.retry_on = [42]
    with pytest.raises(EnqueueError, match="retry_on must be exception classes"):
        policy_for(func, options())


def test_a_bad_attribute_is_reported_with_the_task_name():
    def func(x):
        return x

    func.timeout = "soon"
    with pytest.raises(EnqueueError) as info:
        policy_for(func, options())
    assert str(info.value) == ("task test_a_bad_attribute_is_reported_with_the_task_name.<locals>.func: "
                               "timeout must be positive seconds, got 'soon'")


def module_level(x):
    return x


def test_exactly_once_on_another_database_than_the_queue_is_refused():
    wrapped = task(exactly_once(using="default")(module_level))
    with pytest.raises(EnqueueError) as info:
        policies.check_exactly_once(wrapped, policy_for(wrapped, options()), "queue")
    assert str(info.value) == (
        "task tests.test_policies.module_level is exactly_once on database 'default', but its queue lives on "
        "'queue': the task's writes and the job's completion must share one transaction, so use "
        "@exactly_once(using='queue') or drop exactly_once")


@pytest.mark.parametrize(("values", "message"), [
    ({"delivery": "sometimes"}, "delivery must be one of at_least_once, at_most_once, got 'sometimes'"),
    ({"crash_limit": 0}, "crash_limit must be greater than 0, got 0"),
    ({"retry": {"max_attempt": 2}}, "unknown option 'max_attempt' in retry; did you mean 'max_attempts'?"),
])
def test_bad_options_are_configuration_errors(values, message):
    with pytest.raises(ConfigurationError) as info:
        validate(values)
    assert str(info.value) == f"dj_queue: OPTIONS: {message}"
