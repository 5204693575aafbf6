"""Ready -> claimed: ordering, selectors, pauses, limits, Job stamps, release, concurrency."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection

import dj_queue
from dj_queue import plugins
from dj_queue.models import ClaimedExecution, Job, Pause, ReadyExecution
from dj_queue.operations.claim import claim, release

TASK = "tests.tasks_app.tasks.add"


def ready_jobs(count: int = 1, *, queue: str = "default", priority: int = 0,
               backend_alias: str = "default") -> list[Job]:
    """``count`` ready jobs made straight with the ORM, in id order."""
    jobs = Job.objects.bulk_create(
        Job(task_path=TASK, queue_name=queue, priority=priority, backend_alias=backend_alias)
        for _ in range(count)
    )
    assert all(job.pk for job in jobs)
    ReadyExecution.objects.bulk_create(
        ReadyExecution(job=job, queue_name=queue, priority=priority, backend_alias=backend_alias)
        for job in jobs
    )
    return jobs


def take(selectors=("*",), limit: int = 100, process_id: int | None = 1, worker_id: str = "w1",
         backend_alias: str = "default", **kwargs) -> list[Job]:
    return claim(backend_alias=backend_alias, using="default", selectors=list(selectors), limit=limit,
                 process_id=process_id, worker_id=worker_id, **kwargs)


def ids(jobs) -> list[int]:
    return [job.pk for job in jobs]


@pytest.mark.django_db
def test_higher_priority_first_then_lowest_id():
    low = ready_jobs(2, priority=-5)
    high = ready_jobs(2, priority=10)
    mid = ready_jobs(1)
    assert ids(take()) == ids(high) + ids(mid) + ids(low)


@pytest.mark.django_db
def test_selector_order_beats_priority():
    urgent = ready_jobs(2, queue="urgent", priority=100)
    background = ready_jobs(2, queue="background", priority=-100)
    assert ids(take(["background", "urgent"])) == ids(background) + ids(urgent)


@pytest.mark.django_db
def test_limit_counts_across_selectors():
    first = ready_jobs(2, queue="a")
    second = ready_jobs(3, queue="b")
    assert ids(take(["a", "b"], limit=4)) == ids(first) + ids(second[:2])
    assert ReadyExecution.objects.get().job_id == second[2].pk


@pytest.mark.django_db
def test_limit_is_respected_and_rest_stays_ready():
    jobs = ready_jobs(7)
    assert ids(take(limit=3)) == ids(jobs[:3])
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == set(ids(jobs[3:]))
    assert take(limit=0) == []


@pytest.mark.django_db
def test_prefix_selector_matches_only_that_prefix():
    email = ready_jobs(1, queue="email") + ready_jobs(1, queue="email_bulk")
    ready_jobs(1, queue="mail")
    ready_jobs(1, queue="emai")
    assert sorted(ids(take(["email*"]))) == sorted(ids(email))


@pytest.mark.django_db
def test_prefix_wildcards_in_the_name_are_literal():
    wanted = ready_jobs(1, queue="a_b")
    ready_jobs(1, queue="axb")
    ready_jobs(1, queue="a%b")
    assert ids(take(["a_*"])) == ids(wanted)


@pytest.mark.django_db
def test_star_matches_every_queue_of_the_backend_only():
    mine = ready_jobs(1, queue="x") + ready_jobs(1, queue="y")
    other = ready_jobs(2, queue="x", backend_alias="other")
    assert sorted(ids(take(["*"]))) == sorted(ids(mine))
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == set(ids(other))
    assert [job.worker_ids for job in Job.objects.filter(pk__in=ids(other))] == [[], []]


@pytest.mark.django_db
@pytest.mark.parametrize("selectors, open_claimed", [(["*"], True), (["pa*"], False),
                                                      (["paused", "open"], True)])
def test_paused_queues_are_skipped(selectors, open_claimed):
    ready_jobs(2, queue="paused", priority=50)
    open_jobs = ready_jobs(2, queue="open")
    Pause.objects.create(queue_name="paused")
    Pause.objects.create(queue_name="open", backend_alias="other")  # another backend's pause
    assert ids(take(selectors)) == (ids(open_jobs) if open_claimed else [])
    assert ReadyExecution.objects.filter(queue_name="paused").count() == 2


@pytest.mark.django_db
def test_overlapping_selectors_claim_each_job_once():
    a = ready_jobs(2, queue="a")
    b = ready_jobs(2, queue="b", priority=5)
    assert ids(take(["a", "a*", "*"])) == ids(a) + ids(b)
    assert ClaimedExecution.objects.count() == 4


@pytest.mark.django_db
def test_claim_moves_rows_and_stamps_the_attempt():
    (job,) = ready_jobs(1, queue="q", priority=3)
    (got,) = take(process_id=42, worker_id="host:1")
    claimed = ClaimedExecution.objects.get()
    assert (claimed.job_id, claimed.process_id, claimed.backend_alias) == (job.pk, 42, "default")
    assert not ReadyExecution.objects.exists()
    stored = Job.objects.get(pk=job.pk)
    assert stored.worker_ids == ["host:1"] == got.worker_ids
    assert stored.started_at is not None and stored.started_at == stored.last_attempted_at
    assert (got.task_path, got.queue_name, got.priority, got.args, got.kwargs) == (TASK, "q", 3, [], {})
    assert got.started_at == stored.started_at and got.enqueued_at == stored.enqueued_at


@pytest.mark.django_db
def test_second_attempt_keeps_started_at_and_appends_worker_id():
    (job,) = ready_jobs(1)
    (first,) = take(process_id=1, worker_id="w1")
    assert release(job_ids=[job.pk], process_id=1, using="default") == 1
    (second,) = take(process_id=2, worker_id="w2")
    assert second.worker_ids == ["w1", "w2"]
    assert second.started_at == first.started_at
    assert second.last_attempted_at >= first.last_attempted_at


@pytest.mark.django_db
def test_release_only_returns_claims_of_that_process():
    mine = ready_jobs(2, queue="q", priority=4)
    take(process_id=1, limit=2)
    theirs = ready_jobs(1)
    take(process_id=2)
    assert release(job_ids=ids(mine) + ids(theirs), process_id=1, using="default") == 2
    ready = {r.job_id: (r.queue_name, r.priority) for r in ReadyExecution.objects.all()}
    assert ready == {mine[0].pk: ("q", 4), mine[1].pk: ("q", 4)}
    assert list(ClaimedExecution.objects.values_list("job_id", "process_id")) == [(theirs[0].pk, 2)]
    assert release(job_ids=[], process_id=1, using="default") == 0


@pytest.mark.django_db
def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="limit"):
        take(limit=-1)
    with pytest.raises(ValueError, match="selector"):
        take([""])
    with pytest.raises(ValueError, match="trailing"):
        take(["a*b"])


class Recorder:
    def __init__(self):
        self.calls = []

    @dj_queue.hookimpl
    def dj_queue_jobs_claimed(self, process, jobs):
        self.calls.append((process, ids(jobs)))


@pytest.fixture
def recorder():
    plugin = Recorder()
    plugins.register(plugin)
    yield plugin
    plugins.get_plugin_manager().unregister(plugin)


@pytest.mark.django_db
def test_jobs_claimed_hook_fires_after_commit(recorder, django_capture_on_commit_callbacks):
    jobs = ready_jobs(2)
    marker = object()
    with django_capture_on_commit_callbacks(execute=True):
        take(process=marker)
        assert recorder.calls == []  # not before the commit
        take(process=marker)  # nothing left: no call
    assert recorder.calls == [(marker, ids(jobs))]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("skip_locked", [True, False])
def test_two_threads_claim_every_job_exactly_once(skip_locked, settings):
    settings.TASKS = {"default": {"BACKEND": "dj_queue.backend.DjQueueBackend",
                                  "OPTIONS": {"use_skip_locked": skip_locked}}}
    ready_jobs(1000, queue="q", priority=0)
    results: dict[str, list[int]] = {"t1": [], "t2": []}
    errors: list[BaseException] = []

    def drain(name: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            while True:
                jobs = take(["*"], limit=rng.randint(10, 50), process_id=seed, worker_id=name)
                results[name] += ids(jobs)
                if not jobs and not ReadyExecution.objects.exists():
                    return
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain, args=(name, i + 1)) for i, name in enumerate(results)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "claim threads did not finish"
    assert errors == []
    first, second = set(results["t1"]), set(results["t2"])
    assert len(results["t1"]) == len(first) and len(results["t2"]) == len(second)
    assert first & second == set()
    assert first | second == set(Job.objects.values_list("id", flat=True))
    assert len(first | second) == 1000 and ClaimedExecution.objects.count() == 1000


@pytest.mark.django_db
@pytest.mark.parametrize("signal_name", ["pre_init", "post_init"])
def test_claimed_jobs_are_the_same_with_init_listeners_which_are_then_called(signal_name):
    # Without listeners a claim's rows skip Model.__init__ (dialects.loaded); with one they go
    # through Model.from_db, so the listener hears every claimed job.
    from django.db.models import signals

    def fields(job: Job) -> dict:
        values = {f.attname: getattr(job, f.attname) for f in Job._meta.concrete_fields}
        return {k: v for k, v in values.items() if k not in ("id", "enqueued_at", "started_at", "last_attempted_at")}

    Job.objects.filter(pk__in=ids(ready_jobs(2))).update(args=[1, 2], kwargs={"b": 3}, headers={"h": "v"})
    plain = take(limit=1)
    seen = []

    def listener(sender, **kwargs):
        seen.append(sender)

    getattr(signals, signal_name).connect(listener, sender=Job)
    try:
        heard = take(limit=1)
    finally:
        getattr(signals, signal_name).disconnect(listener, sender=Job)
    assert seen == [Job]
    assert len(plain) == len(heard) == 1 and plain[0].pk != heard[0].pk
    assert fields(plain[0]) == fields(heard[0])
    assert plain[0].args == [1, 2] and plain[0].kwargs == {"b": 3} and plain[0].headers == {"h": "v"}
    for job in plain + heard:
        assert not job._state.adding and job._state.db == "default"
        assert fields(Job.objects.get(pk=job.pk)) == fields(job)
        job.save(update_fields=["progress"])  # an UPDATE of the loaded row, as after from_db


@pytest.mark.django_db
def test_claimed_jobs_get_json_values_of_their_own_plain_ones_included():
    # [], {} and null are made without the JSON parser (dialects.json_converter): still one object per job.
    jobs = ready_jobs(3)
    Job.objects.filter(pk=jobs[2].pk).update(args=[1, {"b": 2, "a": 1}], kwargs={"z": None, "y": [3]})
    first, second, third = take(limit=3)
    assert first.args == second.args == [] and first.kwargs == second.kwargs == {}
    assert first.args is not second.args and first.kwargs is not second.kwargs
    assert first.worker_ids is not second.worker_ids and first.errors is not second.errors
    first.args.append(1)
    first.kwargs["k"] = 1
    assert second.args == [] and second.kwargs == {}
    assert third.args == [1, {"b": 2, "a": 1}] and list(third.args[1]) == ["b", "a"]  # key order kept
    assert third.kwargs == {"z": None, "y": [3]}
    assert first.return_value is None and first.progress_metadata is None


def test_a_json_field_with_a_decoder_of_its_own_keeps_its_converter():
    import json

    from django.db import models

    from dj_queue.dialects import json_converter

    class Decoder(json.JSONDecoder):
        pass

    field = models.JSONField(decoder=Decoder)
    assert json_converter(field) == field.from_db_value
    plain = json_converter(Job._meta.get_field("args"))
    assert plain("[]", None, connection) == [] and plain("null", None, connection) is None
    assert plain(None, None, connection) is None and plain('{"a": [1]}', None, connection) == {"a": [1]}
