"""The rate_limit decorator, its validation, the "JOBS/SECONDS" option and the worker's own limit."""

from __future__ import annotations

import pytest

from dj_queue.api import rate_limit
from dj_queue.compat import task_backends
from dj_queue.exceptions import EnqueueError
from dj_queue.ratelimits import LocalRateLimit, RateLimit, key_of, parse_rate, settings_for
from tests.tasks_app import tasks


def test_decorator_sets_the_function_attributes():
    assert settings_for(tasks.per_account) == RateLimit("account:{account_id}", 2, 60.0)
    assert tasks.per_account.func.rate_limit_limit == 2


def test_a_task_without_a_rate_limit_has_none():
    assert settings_for(tasks.add) is None


def test_function_attribute_form():
    def plain(x):
        return x

    plain.rate_limit_key, plain.rate_limit_limit, plain.rate_limit_period = "fixed", 3, 1.5
    assert settings_for(plain) == RateLimit("fixed", 3, 1.5)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"key": "", "limit": 1, "period": 1}, "key must be a non-empty string"),
    ({"key": 5, "limit": 1, "period": 1}, "key must be a non-empty string"),
    ({"key": "k", "limit": 0, "period": 1}, "limit must be a positive int"),
    ({"key": "k", "limit": 1.5, "period": 1}, "limit must be a positive int"),
    ({"key": "k", "limit": True, "period": 1}, "limit must be a positive int"),
    ({"key": "k", "limit": 1, "period": 0}, "period must be positive seconds"),
    ({"key": "k", "limit": 1, "period": "1"}, "period must be positive seconds"),
    ({"key": "k", "limit": 1, "period": float("inf")}, "period must be positive seconds"),
    ({"key": "k", "limit": 1, "period": float("nan")}, "period must be positive seconds"),
])
def test_bad_decorator_arguments_raise_enqueue_error(kwargs, message):
    with pytest.raises(EnqueueError, match=message):
        rate_limit(**kwargs)


def test_a_half_set_attribute_form_is_an_error():
    def plain():
        return None

    plain.rate_limit_limit = 3
    with pytest.raises(EnqueueError, match="rate limit: key must be"):
        settings_for(plain)


def test_key_template_is_formatted_from_the_arguments():
    settings = settings_for(tasks.per_account)
    assert key_of(tasks.per_account, settings, [7], {}) == "account:7"
    assert key_of(tasks.per_account, settings, [], {"account_id": 8}) == "account:8"


def test_a_key_that_cannot_be_built_names_the_rate_limit():
    settings = RateLimit("account:{missing}", 1, 1.0)
    with pytest.raises(EnqueueError, match="rate-limit key"):
        key_of(tasks.per_account, settings, [7], {})


def test_parse_rate():
    assert parse_rate("10/60") == (10, 60.0)
    assert parse_rate("5/0.5") == (5, 0.5)
    for bad in ("10", "0/1", "1/0", "a/b", "1/-1", "-1/1", "", "1/inf"):
        with pytest.raises(ValueError, match="JOBS/SECONDS"):
            parse_rate(bad)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_local_limit_holds_for_any_window():
    clock = Clock()
    limiter = LocalRateLimit(3, 10.0, clock=clock)
    assert limiter.allowance(5) == 3
    limiter.record(2)
    clock.now += 4
    assert limiter.allowance(5) == 1
    limiter.record(1)
    assert limiter.allowance(5) == 0
    assert limiter.wait_seconds() == pytest.approx(6.0)
    clock.now += 6  # the first two starts leave the window, the third stays
    assert limiter.allowance(5) == 2
    assert limiter.wait_seconds() == 0.0
    assert LocalRateLimit.from_option(None) is None
    assert LocalRateLimit.from_option("4/2").limit == 4


@pytest.mark.django_db
def test_a_key_that_cannot_be_built_is_refused_at_enqueue(monkeypatch):
    from dj_queue.models import Job

    monkeypatch.setattr(tasks.per_account.func, "rate_limit_key", "account:{nope}")
    with pytest.raises(EnqueueError, match="rate-limit key") as info:
        tasks.per_account.enqueue(1)
    assert "nope" in str(info.value)
    with pytest.raises(EnqueueError, match="rate-limit key"):
        task_backends["default"].enqueue_all([(tasks.per_account, [1], {})])
    assert not Job.objects.exists()
