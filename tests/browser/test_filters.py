"""Filters, the job id lookup and the charts in a real browser: an operator narrows the failed
jobs to one exception, retries all that match, jumps to a job by id, and reads the charts.

``DJ_QUEUE_SCREENSHOTS=1`` also saves docs/images/filters.png and docs/images/charts.png.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, ReadyExecution
from tests.browser.test_dashboard import DASHBOARD, Operator
from tests.factories import make_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def failed(task: str, exception: str, message: str) -> Job:
    job = make_job("failed", task_path=task, args=[{"to": "ann@example.com"}])
    FailedExecution.objects.filter(job=job).update(exception_class=exception, message=message)
    return job


def history() -> None:
    """Finished and failed jobs spread over the last hour, with growing waits."""
    now = timezone.now()
    for minute in range(0, 60, 3):
        for n in range(minute % 7 + 1):
            job = make_job("failed" if n == 4 else "finished", task_path="shop.tasks.send_receipt")
            end = now - timedelta(minutes=minute, seconds=n)
            Job.objects.filter(pk=job.pk).update(finished_at=end, enqueued_at=end - timedelta(seconds=30),
                                                 started_at=end - timedelta(seconds=29 - minute % 20))


@pytest.fixture
def operator(browser, server, django_user_model):
    django_user_model.objects.create_superuser("operator", "ops@example.com", "night-shift")
    operator = Operator(browser, server)
    operator.log_in("operator", "night-shift")
    return operator


def test_filter_retry_matching_and_lookup(operator):
    smtp = [failed("shop.tasks.send_receipt", "smtplib.SMTPServerDisconnected", "Connection unexpectedly closed")
            for _ in range(3)]
    others = [failed("shop.tasks.refund", "builtins.KeyError", "'order'"),
              failed("shop.tasks.send_receipt", "builtins.TimeoutError", "timed out")]

    operator.open(f"{DASHBOARD}jobs/failed/")
    operator.find('#djq-filters input[name="exception"]').send_keys("SMTP")
    operator.find("#djq-filter-apply").click()
    operator.find("#djq-matching")
    listed = {int(row.get_attribute("data-job"))
              for row in operator.browser.find_elements(operator.by.CSS_SELECTOR, "tr[data-job]")}
    assert listed == {job.pk for job in smtp}
    assert "exception class contains 'SMTP'" in operator.text("#djq-matching")
    assert "exception=SMTP" in operator.browser.current_url
    operator.screenshot("filters.png")

    button = operator.find('#djq-all-actions button[data-op="retry"]')
    assert button.text == "Retry all 3 matching failed jobs"
    button.click()
    assert operator.text("#djq-question") == "Retry all 3 failed jobs matching exception class contains 'SMTP'?"
    operator.find("#djq-confirm").click()
    assert operator.text(".messagelist .success") == "Retried 3 failed jobs."
    assert set(ReadyExecution.objects.values_list("job_id", flat=True)) == {job.pk for job in smtp}
    assert FailedExecution.objects.filter(job__in=others).count() == 2

    # The lookup box on every page jumps to a job by id.
    box = operator.find('#djq-lookup input[name="id"]')
    box.send_keys(str(others[0].pk))
    operator.find('#djq-lookup button[type="submit"]').click()
    assert operator.text("h2") .startswith(f"Job {others[0].pk}")
    assert "shop.tasks.refund" in operator.text(".djq-fields")


def test_charts_draw_the_last_hour_and_day(operator):
    history()
    operator.open(DASHBOARD)
    bars = operator.browser.find_elements(operator.by.CSS_SELECTOR, "#djq-chart-throughput .djq-bar")
    assert len(bars) == 60
    heights = [bar.size["height"] for bar in bars]
    chart = operator.find("#djq-chart-throughput").size["height"]
    assert max(heights) >= chart * 0.8 and min(heights) == 0  # the tallest bar fills the chart
    assert any(bar.get_attribute("title").endswith(" succeeded") for bar in bars)
    assert "failed in the last hour" in operator.text('[data-summary="failures"]')
    assert "on average from due to start" in operator.text('[data-summary="latency"]')
    operator.screenshot("charts.png")

    operator.find('a[data-window="day"]').click()
    operator.wait.until(lambda b: len(b.find_elements(operator.by.CSS_SELECTOR, "#djq-chart-failures .djq-bar")) == 144)
    assert "in the last day" in operator.text('[data-summary="throughput"]')
