from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, RecurringExecution
from dj_queue.management.commands.dj_queue_prune import age
from tests.factories import make_job

pytestmark = pytest.mark.django_db
ADD, NOOP = "tests.tasks_app.tasks.add", "tests.tasks_app.tasks.noop"


def prune(*args: str) -> str:
    out = StringIO()
    call_command("dj_queue_prune", *args, stdout=out)
    return out.getvalue()


def test_prune_deletes_what_each_flag_names_and_reports_it():
    old = timezone.now() - timedelta(days=10)
    finished = [make_job("finished") for _ in range(3)]
    Job.objects.filter(pk__in=[j.pk for j in finished]).update(finished_at=old)
    fresh = make_job("finished")
    failed = make_job("failed")
    FailedExecution.objects.filter(job=failed).update(created_at=old)
    for key in ("nightly", "hourly"):  # two old runs each: the latest of a task is always kept
        RecurringExecution.objects.create(task_key=key, run_at=old, created_at=old)
        RecurringExecution.objects.create(task_key=key, run_at=old + timedelta(hours=1), created_at=old)

    out = prune("--older-than", "7d", "--batch-size", "2")
    assert "finished jobs: 3" in out
    assert set(Job.objects.values_list("pk", flat=True)) == {fresh.pk, failed.pk}

    out = prune("--failed-older-than", "1d", "--recurring-older-than", "1d", "--task-key", "nightly")
    assert "failed jobs: 1" in out and "recurring executions: 1" in out
    assert list(Job.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert sorted(RecurringExecution.objects.values_list("task_key", flat=True)) == ["hourly", "hourly", "nightly"]


def test_prune_filters_by_task_path():
    old = timezone.now() - timedelta(days=2)
    keep = make_job("finished", task_path="tests.tasks_app.tasks.noop")
    drop = make_job("finished")
    Job.objects.update(finished_at=old)
    assert "finished jobs: 1" in prune("--older-than", "3600", "--task-path", drop.task_path)
    assert list(Job.objects.values_list("pk", flat=True)) == [keep.pk]


NOT_A_DURATION = "is not a duration: give seconds (90) or a number with a unit s, m, h, d or w (30m, 1h, 7d, 2w)"


@pytest.mark.parametrize("args, message", [
    ((), "nothing to prune: give --older-than, --failed-older-than and/or --recurring-older-than"),
    (("--older-than", "soon"), f"--older-than 'soon' {NOT_A_DURATION}"),
    (("--older-than", "-5"), "--older-than must not be negative, got '-5'"),
    (("--failed-older-than", " -1d"), "--failed-older-than must not be negative, got ' -1d'"),
    (("--recurring-older-than=-0.5h",), "--recurring-older-than must not be negative, got '-0.5h'"),
    (("--older-than=-5d",), "--older-than must not be negative, got '-5d'"),
    (("--older-than", "5x"), f"--older-than '5x' {NOT_A_DURATION}"),
    (("--older-than", "nan"), f"--older-than 'nan' {NOT_A_DURATION}"),
    (("--older-than", "1e3"), f"--older-than '1e3' {NOT_A_DURATION}"),
    (("--older-than", ""), "nothing to prune: give --older-than, --failed-older-than and/or --recurring-older-than"),
    (("--older-than", "d"), f"--older-than 'd' {NOT_A_DURATION}"),
    (("--older-than", "200000w"), "--older-than '200000w' is too long: at most 100 years"),
    (("--older-than", "1d", "--batch-size", "0"), "--batch-size must be a positive number of rows, got 0"),
    (("--older-than", "1d", "--backend", "nope"), "dj_queue: no TASKS backend named 'nope'"),
])
def test_prune_rejects_bad_input_with_one_line(args, message):
    with pytest.raises(CommandError) as excinfo:
        prune(*args)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("text, seconds", [
    ("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("1.5h", 5400), ("7d", 604800), ("2w", 1209600),
    (" 12 H ", 43200), ("0", 0),
])
def test_ages_accept_seconds_and_units(text, seconds):
    assert age(text) == timedelta(seconds=seconds)


def test_a_bad_second_age_deletes_nothing():
    job = make_job("finished")
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=10))
    with pytest.raises(CommandError):
        prune("--older-than", "1d", "--failed-older-than", "-1d")
    assert Job.objects.filter(pk=job.pk).exists()


def test_dry_run_counts_per_kind_and_task_path_and_deletes_nothing():
    old = timezone.now() - timedelta(days=10)
    for task_path in (ADD, ADD, NOOP):
        Job.objects.filter(pk=make_job("finished", task_path=task_path).pk).update(finished_at=old)
    make_job("finished")  # recent: kept
    failed = make_job("failed")
    FailedExecution.objects.filter(job=failed).update(created_at=old)
    for key in ("nightly", "hourly"):
        RecurringExecution.objects.create(task_key=key, run_at=old, created_at=old)
        RecurringExecution.objects.create(task_key=key, run_at=old + timedelta(hours=1), created_at=old)
    before = (Job.objects.count(), FailedExecution.objects.count(), RecurringExecution.objects.count())

    out = prune("--older-than", "7d", "--failed-older-than", "1d", "--recurring-older-than", "1d", "--dry-run")
    assert out.splitlines() == [
        "dj_queue_prune (backend 'default') dry run, nothing deleted; would remove finished jobs: 3, "
        "failed jobs: 1, recurring executions: 2",
        f"  finished jobs by task path: {ADD} 2, {NOOP} 1",
        f"  failed jobs by task path: {failed.task_path} 1",
        "  recurring executions by task key: hourly 1, nightly 1",
    ]
    assert (Job.objects.count(), FailedExecution.objects.count(), RecurringExecution.objects.count()) == before
    out = prune("--older-than", "7d", "--task-path", NOOP, "--dry-run")
    assert out.splitlines() == [
        "dj_queue_prune (backend 'default') dry run, nothing deleted; would remove finished jobs: 1",
        f"  finished jobs by task path: {NOOP} 1",
    ]
    assert prune("--older-than", "7d") == "dj_queue_prune (backend 'default') removed finished jobs: 3\n"
