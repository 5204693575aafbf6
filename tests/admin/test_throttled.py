"""Jobs a rate limit sent back to wait: a summary card, a marker on the scheduled list and job page."""

from __future__ import annotations

import pytest

from dj_queue.models import ScheduledExecution
from tests.factories import make_job

pytestmark = pytest.mark.django_db

URL = "/admin/dj_queue/dashboard/"
JOBS = "/admin/dj_queue/dashboard/jobs/{}/"
JOB = "/admin/dj_queue/dashboard/job/{}/"


@pytest.fixture
def throttled():
    job = make_job("scheduled")
    ScheduledExecution.objects.filter(job=job).update(throttled=True)
    return job


def test_the_summary_counts_throttled_jobs(admin_client, throttled):
    make_job("scheduled")  # scheduled by enqueue, not throttled
    response = admin_client.get(URL)
    assert response.context["throttled"] == 1
    assert response.context["counts"]["scheduled"] == 2
    assert b'data-count="throttled"><strong>1</strong><span>Throttled</span>' in response.content


def test_the_scheduled_list_marks_only_throttled_jobs(admin_client, throttled):
    plain = make_job("scheduled")
    content = admin_client.get(JOBS.format("scheduled")).content.decode()
    assert f'data-throttled="{throttled.pk}"' in content
    assert f'data-throttled="{plain.pk}"' not in content


def test_the_job_page_says_it_is_throttled(admin_client, throttled):
    content = admin_client.get(JOB.format(throttled.pk)).content.decode()
    assert 'id="djq-throttled"' in content and "its rate limit allows it to start at" in content
    plain = make_job("scheduled")
    assert 'id="djq-throttled"' not in admin_client.get(JOB.format(plain.pk)).content.decode()
