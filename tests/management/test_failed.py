"""``manage.py dj_queue_failed list|retry|discard`` with every filter."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, ReadyExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db

ADD, NOOP = "tests.tasks_app.tasks.add", "tests.tasks_app.tasks.noop"


def failed_cmd(*args: str) -> str:
    out = StringIO()
    call_command("dj_queue_failed", *args, stdout=out)
    return out.getvalue()


def failed_job(*, task: str = ADD, queue: str = "default", exception: str = "builtins.ValueError",
               age: timedelta = timedelta(0), backend_alias: str = "default") -> int:
    job = make_job("failed", task_path=task, queue=queue, backend_alias=backend_alias)
    FailedExecution.objects.filter(job=job).update(exception_class=exception, created_at=timezone.now() - age)
    return job.pk


@pytest.fixture
def jobs(settings) -> dict[str, int]:
    settings.TASKS = {**settings.TASKS, "elsewhere": {"BACKEND": "dj_queue.backend.DjQueueBackend"}}
    return {
        "add": failed_job(),
        "noop": failed_job(task=NOOP),
        "emails": failed_job(queue="emails"),
        "key_error": failed_job(exception="builtins.KeyError"),
        "custom": failed_job(exception="shop.errors.CardDeclined"),
        "old": failed_job(age=timedelta(days=3)),
        "other_backend": failed_job(backend_alias="elsewhere"),
    }


def listed_ids(out: str) -> set[int]:
    return {int(line.split()[0]) for line in out.splitlines()[1:-1]}


@pytest.mark.parametrize("args, expected", [
    ((), {"add", "noop", "emails", "key_error", "custom", "old"}),
    (("--task", NOOP), {"noop"}),
    (("--queue", "emails"), {"emails"}),
    (("--exception", "KeyError"), {"key_error"}),
    (("--exception", "builtins.KeyError"), {"key_error"}),
    (("--exception", "CardDeclined"), {"custom"}),
    (("--exception", "Declined"), set()),
    (("--older-than", "1d"), {"old"}),
    (("--newer-than", "1h"), {"add", "noop", "emails", "key_error", "custom"}),
    (("--older-than", "3600", "--exception", "ValueError"), {"old"}),
    (("--backend", "elsewhere"), {"other_backend"}),
])
def test_list_applies_each_filter(jobs, args, expected):
    out = failed_cmd("list", *args)
    backend = args[1] if args and args[0] == "--backend" else "default"
    if expected:
        assert listed_ids(out) == {jobs[name] for name in expected}
        n = len(expected)
        wording = "1 failed job" if n == 1 else f"{n} failed jobs"
        assert out.splitlines()[-1] == f"{wording} of backend {backend!r} {'matches' if n == 1 else 'match'}"
    else:
        assert out == f"no failed jobs of backend {backend!r} match\n"


def test_list_shows_the_columns_and_the_newest_first_within_limit(jobs):
    lines = failed_cmd("list", "--limit", "2").splitlines()
    assert lines[0].split() == ["id", "failed", "at", "queue", "task", "exception", "message"]
    assert len(lines) == 4
    assert jobs["old"] not in {int(line.split()[0]) for line in lines[1:3]}
    assert lines[1].split()[3:] == ["default", ADD, "shop.errors.CardDeclined", "boom"]
    assert lines[-1] == "6 failed jobs of backend 'default' match, showing the newest 2"


def test_retry_moves_the_filtered_jobs_back_to_ready(jobs):
    assert failed_cmd("retry", "--exception", "ValueError", "--newer-than", "1h") == (
        "retried 3 failed jobs of backend 'default'\n")
    retried = {jobs["add"], jobs["noop"], jobs["emails"]}
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == retried
    assert not FailedExecution.objects.filter(job_id__in=retried).exists()
    assert set(Job.objects.filter(pk__in=retried).values_list("finished_at", flat=True)) == {None}
    assert failed_cmd("retry", "--id", str(jobs["custom"]), str(jobs["add"])) == (
        "retried 1 failed job of backend 'default'\n")  # add is no longer failed
    assert ReadyExecution.objects.filter(job_id=jobs["custom"]).exists()


def test_discard_deletes_the_filtered_jobs_only(jobs):
    assert failed_cmd("discard", "--queue", "emails") == "discarded 1 failed job of backend 'default'\n"
    assert failed_cmd("discard", "--task", NOOP) == "discarded 1 failed job of backend 'default'\n"
    assert failed_cmd("discard", "--older-than", "2d") == "discarded 1 failed job of backend 'default'\n"
    assert failed_cmd("discard", "--id", str(jobs["key_error"]), "--id", str(jobs["custom"])) == (
        "discarded 2 failed jobs of backend 'default'\n")
    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {jobs["add"], jobs["other_backend"]}
    assert failed_cmd("discard", "--backend", "elsewhere") == "discarded 1 failed job of backend 'elsewhere'\n"
    assert remaining - set(Job.objects.values_list("pk", flat=True)) == {jobs["other_backend"]}


def test_dry_run_prints_the_ids_and_changes_nothing(jobs):
    expected = sorted([jobs["key_error"], jobs["custom"]])
    out = failed_cmd("discard", "--exception", "KeyError", "--dry-run")
    assert out == f"would discard 1 failed job of backend 'default': {jobs['key_error']}\n"
    out = failed_cmd("retry", "--id", *map(str, expected), "--dry-run")
    assert out == f"would retry 2 failed jobs of backend 'default': {expected[0]}, {expected[1]}\n"
    assert failed_cmd("retry", "--queue", "nope", "--dry-run") == "would retry 0 failed jobs of backend 'default'\n"
    assert FailedExecution.objects.count() == 7 and not ReadyExecution.objects.exists()


@pytest.mark.parametrize("args, message", [
    (("retry", "--limit", "5"), "--limit applies to list only"),
    (("list", "--limit", "0"), "--limit must be a positive number"),
    (("list", "--dry-run"), "--dry-run applies to retry and discard only"),
    (("list", "--older-than", "soon"),
     "--older-than: 'soon' is not a duration: use seconds or a number with s, m, h, d or w"),
    (("discard", "--newer-than=-1h"), "--newer-than: '-1h' is not a duration: it must not be negative"),
    (("list", "--older-than", "99999999999d"), "--older-than: '99999999999d' is too long: at most 100 years"),
    (("list", "--id", "99999999999999999999999"),
     "Error: argument --id: '99999999999999999999999' is not a job id"),
    (("list", "--backend", "nope"), None),
])
def test_bad_input_is_a_clear_command_error(args, message):
    with pytest.raises(CommandError) as excinfo:
        failed_cmd(*args)
    if message is None:
        assert "no TASKS backend named 'nope'" in str(excinfo.value)
    else:
        assert str(excinfo.value) == message
