"""``dj_queue_enqueue_headers``: headers asked once per enqueue call, stored with every job, read back at claim."""

from __future__ import annotations

import pytest

import dj_queue
from dj_queue import plugins
from dj_queue.exceptions import EnqueueError
from dj_queue.models import Job
from dj_queue.operations.claim import claim
from dj_queue.operations.enqueue import JobSpec, enqueue_job, enqueue_jobs

ADD = "tests.tasks_app.tasks.add"
pytestmark = pytest.mark.django_db


class Headers:
    """A plugin answering ``given`` and remembering each call's jobs."""

    def __init__(self, given):
        self.given, self.calls = given, []

    @dj_queue.hookimpl
    def dj_queue_enqueue_headers(self, backend_alias, jobs):
        self.calls.append((backend_alias, [job.pk for job in jobs], [job.queue_name for job in jobs]))
        return self.given


@pytest.fixture
def give():
    registered = []

    def register(given, name):
        plugin = Headers(given)
        plugins.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        plugins.get_plugin_manager().unregister(plugin)


def one(queue_name="q", **overrides) -> Job:
    return enqueue_job(backend_alias="default", using="default", task_path=ADD, queue_name=queue_name,
                       priority=0, args=[1, 2], kwargs={}, **overrides)


def specs(count, queue_name="q", **overrides) -> list[JobSpec]:
    return [JobSpec(ADD, queue_name, 0, [i, 1], {}, **overrides) for i in range(count)]


def claimed_headers() -> dict[int, dict | None]:
    jobs = claim(backend_alias="default", using="default", selectors=["*"], limit=100, process_id=None,
                 worker_id="w")
    return {job.pk: job.headers for job in jobs}


@pytest.fixture
def no_implementation():
    manager = plugins.get_plugin_manager()
    if manager.has_plugin("dj_queue_plugins.otel"):  # it implements the hook (no SDK: no headers)
        manager.unregister(name="dj_queue_plugins.otel")
    yield
    plugins.reset_plugin_manager()


def test_without_an_implementation_no_headers_are_stored(no_implementation):
    assert not plugins.get_plugin_manager().hook.dj_queue_enqueue_headers.get_hookimpls()
    job = one()
    jobs = enqueue_jobs(specs(2), backend_alias="default", using="default")
    assert Job.objects.get(pk=job.pk).headers is None
    assert claimed_headers() == {job.pk: None, jobs[0].pk: None, jobs[1].pk: None}


def test_a_single_enqueue_stores_the_headers_and_a_claim_reads_them_back(give):
    plugin = give({"traceparent": "00-abc-def-01"}, "test-headers")
    job = one()
    assert plugin.calls == [("default", [None], ["q"])]  # asked before the job was written
    assert job.headers == {"traceparent": "00-abc-def-01"}
    assert Job.objects.get(pk=job.pk).headers == {"traceparent": "00-abc-def-01"}
    assert claimed_headers() == {job.pk: {"traceparent": "00-abc-def-01"}}


@pytest.mark.parametrize("run_after", [None, "future"])
def test_a_bulk_enqueue_asks_once_and_stores_the_headers_in_every_job(give, run_after):
    from datetime import timedelta

    from django.utils import timezone

    when = timezone.now() + timedelta(hours=1) if run_after else None
    plugin = give({"k": "v"}, "test-headers")
    jobs = enqueue_jobs(specs(3, run_after=when) + specs(1, queue_name="other"), backend_alias="default",
                        using="default")
    assert plugin.calls == [("default", [None] * 4, ["q", "q", "q", "other"])]
    stored = dict(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "headers"))
    assert stored == {job.pk: {"k": "v"} for job in jobs}


def test_a_bulk_enqueue_of_gated_jobs_stores_the_headers(give):
    from dj_queue.concurrency import Concurrency

    give({"k": "v"}, "test-headers")
    gate = Concurrency(key="g", limit=1)
    jobs = enqueue_jobs(specs(2, concurrency_key="g", concurrency=gate), backend_alias="default", using="default")
    assert [Job.objects.get(pk=job.pk).headers for job in jobs] == [{"k": "v"}, {"k": "v"}]


def test_the_answers_of_several_plugins_are_merged_and_empty_ones_add_nothing(give):
    give({"a": "1", "shared": "first"}, "test-first")
    give(None, "test-none")
    give({"b": "2", "shared": "last"}, "test-last")
    assert one().headers == {"a": "1", "b": "2", "shared": "last"}  # the last registered wins


def test_only_empty_answers_store_nothing(give):
    give({}, "test-empty")
    give(None, "test-none")
    assert Job.objects.get(pk=one().pk).headers is None


def test_headers_that_are_not_strings_are_refused_and_nothing_is_written(give):
    give({"n": 1}, "test-bad")
    with pytest.raises(EnqueueError) as caught:
        one()
    assert str(caught.value) == "dj_queue_enqueue_headers must return string keys and values, got {'n': 1}"
    with pytest.raises(EnqueueError):
        enqueue_jobs(specs(2), backend_alias="default", using="default")
    assert not Job.objects.exists()


def test_a_bulk_enqueue_stores_headers_with_quotes_percents_and_backslashes_verbatim(give):
    # Values every row shares are escaped once per batch on MySQL: they must still read back exactly.
    given = {"q": "it's \"quoted\"", "p": "100% %s %% %(x)s", "b": "back\\slash", "u": "ünï"}
    give(given, "test-headers")
    jobs = enqueue_jobs(specs(3), backend_alias="default", using="default")
    stored = dict(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", "headers"))
    assert stored == {job.pk: given for job in jobs}
    assert sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("args", flat=True)) == [
        [0, 1], [1, 1], [2, 1]]
