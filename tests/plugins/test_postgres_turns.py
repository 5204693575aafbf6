"""``synchronous_turns``: whether a worker's turn on PostgreSQL waits for its WAL flush."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dj_queue import plugins
from dj_queue.config import ConfigurationError, validate
from dj_queue.models import ClaimedExecution, Job, ReadyExecution
from dj_queue.operations.selectors import parse_selectors
from tests.plugins.test_claim_plans import server_side_binding

pytestmark = pytest.mark.django_db(transaction=True)  # a turn runs in autocommit mode, as a worker's


def turn_queries(**options) -> list[str]:
    """The SQL of one turn (finish a claimed job, claim the next) under these backend options."""
    done_job, next_job = (Job.objects.create(task_path="tests.tasks_app.tasks.add") for _ in range(2))
    ClaimedExecution.objects.create(job=done_job, process_id=1)
    ReadyExecution.objects.create(job=next_job, queue_name="default")
    merged = {**settings.TASKS["default"]["OPTIONS"], **options}
    with override_settings(TASKS={"default": {**settings.TASKS["default"], "OPTIONS": merged}}), \
            CaptureQueriesContext(connection) as queries:
        done, claimed = plugins.get_dialect("default").finish_and_claim(
            using="default", backend_alias="default", items=[(done_job.pk, 1)],
            selectors=parse_selectors(["*"]), limit=1, process_id=1, worker_id="w", now=timezone.now())
    assert done == [done_job.pk] and [job.pk for job in claimed] == [next_job.pk]
    return [query["sql"] for query in queries]


@pytest.mark.applies(settings.DB == "postgres" and not server_side_binding(),
                     reason="PostgreSQL with client-side binding (a turn is several statements in one query)")
@pytest.mark.parametrize("synchronous", [True, False])
def test_a_turn_skips_the_flush_wait_only_with_synchronous_turns_off(synchronous):
    sql = turn_queries(synchronous_turns=synchronous)
    relaxed = [text for text in sql if "SET LOCAL synchronous_commit = off" in text]
    assert len(relaxed) == (0 if synchronous else 1), sql
    if relaxed:  # in the turn's own query, so it holds for that transaction only
        assert "EXECUTE" in relaxed[0] or "dj_queue_claimed_execution" in relaxed[0], relaxed


def test_synchronous_turns_is_on_by_default_and_must_be_a_bool():
    assert validate({})["synchronous_turns"] is True
    with pytest.raises(ConfigurationError, match="synchronous_turns"):
        validate({"synchronous_turns": "no"})
