"""The dashboard in a real browser: the red banner when no worker runs, every queue action
usable at phone width (390 px), and cancelling a running job.

``DJ_QUEUE_SCREENSHOTS=1`` also saves docs/images/dashboard-alert.png and docs/images/phone.png.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dj_queue.models import FailedExecution, Job, Pause, Process, ReadyExecution
from tests.browser.test_dashboard import DASHBOARD, Operator
from tests.conftest import wait_until
from tests.tasks_app import tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]
PHONE = (390, 844)


@pytest.fixture
def operator(browser, server, django_user_model) -> Operator:
    django_user_model.objects.create_superuser("operator", "ops@example.com", "night-shift")
    operator = Operator(browser, server)
    operator.log_in("operator", "night-shift")
    return operator


def test_banner_when_no_worker_serves_ready_jobs_and_a_process_is_stale(operator):
    tasks.add.enqueue(1, 2)
    tasks.important.enqueue(3)
    Process.objects.create(kind="worker", name="worker-7f3a", hostname="web-2", pid=4242,
                           metadata={"queues": ["*"]}, last_heartbeat_at=timezone.now() - timedelta(hours=2))

    operator.open(DASHBOARD)
    banner = operator.find("#djq-banner")

    assert banner.is_displayed()
    text = banner.text
    assert ("No worker is alive (is manage.py dj_queue running?) and ready jobs are waiting in "
            "default (1), high (1).") in text
    assert "1 process stopped sending heartbeats" in text and "worker worker-7f3a on web-2" in text
    assert "2 h 0 min ago" in text
    color = operator.browser.execute_script(
        "return getComputedStyle(document.getElementById('djq-banner')).borderTopColor")
    red, green, blue = (int(part.strip(" )")) for part in color[color.index("(") + 1:].split(",")[:3])
    assert red > 150 and green < 100 and blue < 100, color
    operator.screenshot("dashboard-alert.png")


def test_every_queue_action_is_visible_inside_a_phone_screen(operator):
    for queue in ("default", "high", "emails-transactional", "reports"):
        tasks.add.using(queue_name=queue).enqueue(1, 1)
    Pause.objects.create(queue_name="reports")
    browser = operator.browser
    browser.set_window_size(*PHONE)
    try:
        operator.open(DASHBOARD)
        operator.find("#djq-queues")
        width = browser.execute_script("return window.innerWidth")
        assert width <= PHONE[0], width
        buttons = browser.find_elements(operator.by.CSS_SELECTOR, "#djq-queues button")
        # pause or resume, and clear, for each of the four queues
        assert sorted(b.get_attribute("data-op") for b in buttons) == ["clear"] * 4 + ["pause"] * 3 + ["resume"]
        for button in buttons:
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
            rect = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", button)
            assert button.is_displayed(), button.get_attribute("outerHTML")
            assert rect["left"] >= 0 and rect["right"] <= width, (rect, width)
            assert rect["width"] > 20 and rect["height"] > 10
        overflow = browser.execute_script("return document.documentElement.scrollWidth")
        assert overflow <= width, f"the page scrolls sideways: {overflow} > {width}"
        operator.screenshot("phone.png", width=PHONE[0])

        # The other pages fit too: job lists and a failed job with a long message and traceback.
        failed = tasks.fail.using(queue_name="reports").enqueue("x" * 300)
        ReadyExecution.objects.filter(job_id=int(failed.id)).delete()
        Job.objects.filter(pk=int(failed.id)).update(finished_at=timezone.now(), worker_ids=["worker-1"])
        FailedExecution.objects.create(job_id=int(failed.id), exception_class="builtins.ValueError",
                                       message="x" * 300, traceback="Traceback (most recent call last):\n"
                                       '  File "/srv/app/shop/tasks.py", line 1, in f\n    ' + "y" * 300 + "\n")
        for path in ("/admin/dj_queue/dashboard/jobs/ready/", "/admin/dj_queue/dashboard/jobs/failed/",
                     f"/admin/dj_queue/dashboard/job/{failed.id}/"):
            operator.open(path)
            operator.find("#content")
            overflow = browser.execute_script("return document.documentElement.scrollWidth")
            widest = browser.execute_script(
                "return Array.from(document.querySelectorAll('body *')).filter(e => "
                "e.scrollWidth > window.innerWidth + 1).slice(-2).map(e => e.outerHTML.slice(0, 100))")
            assert overflow <= width, f"{path} scrolls sideways: {overflow} > {width}: {widest}"
        operator.open(DASHBOARD)

        # And a button works there: pause a queue from the phone.
        message = operator.act('tr[data-queue="high"] button[data-op="pause"]')
        assert "Paused queue 'high'" in message
        assert Pause.objects.filter(queue_name="high").exists()
    finally:
        browser.set_window_size(1400, 1000)


def test_cancel_a_running_job_from_its_page(operator, start_runtime):
    runtime = start_runtime("async", {"timeout_grace": 1})
    result = tasks.sleep_then_record.enqueue("slow-export", 60)
    job_id = int(result.id)
    wait_until(lambda: Job.objects.filter(pk=job_id, claimed_execution__isnull=False).exists(),
               timeout=60, message="the job started")

    operator.open(f"/admin/dj_queue/dashboard/job/{job_id}/")
    assert operator.text("#djq-state") == "running"
    operator.find('#djq-job-actions button[data-op="cancel"]').click()
    question = operator.text("#djq-question")
    assert question == f"Cancel running job {job_id} (tests.tasks_app.tasks.sleep_then_record)?"
    operator.find("#djq-confirm").click()
    assert operator.text(".messagelist .success") == "Asked 1 running job to stop."

    wait_until(lambda: FailedExecution.objects.filter(job_id=job_id).exists(), timeout=60,
               message=f"the job was cancelled\n{runtime.log()}")
    operator.open(f"/admin/dj_queue/dashboard/job/{job_id}/")
    assert operator.text("#djq-state") == "cancelled"
    assert "JobCancelledError" in operator.text("#djq-history")
    operator.open(DASHBOARD)
    assert operator.text('[data-count="cancelled"] strong') == "1"
