"""An operator's session in a real browser against a running runtime: log in, read the dashboard,
pause and resume a queue, open a failed job, fix its cause, retry it and see it succeed.

``DJ_QUEUE_SCREENSHOTS=1`` also saves docs/images/dashboard.png and docs/images/failed-job.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dj_queue.models import FailedExecution, Job, Process, ReadyExecution
from tests.conftest import wait_until
from tests.tasks_app import tasks
from tests.tasks_app.models import SideEffect

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
DASHBOARD = "/admin/dj_queue/dashboard/"


class Operator:
    """The browser, with the few gestures the session needs."""

    def __init__(self, browser, base_url: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.browser, self.base_url, self.by = browser, base_url, By
        self.wait = WebDriverWait(browser, 20)

    def open(self, path: str) -> None:
        self.browser.get(self.base_url + path)

    def find(self, css: str):
        return self.wait.until(lambda b: b.find_element(self.by.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return self.find(css).text

    def log_in(self, username: str, password: str) -> None:
        self.open(f"/admin/login/?next={DASHBOARD}")
        self.find("#id_username").send_keys(username)
        self.find("#id_password").send_keys(password)
        self.find("input[type=submit]").click()
        self.find("#djq-summary")

    def act(self, button_css: str) -> str:
        """Click an action button, confirm it, and return the success message."""
        self.find(button_css).click()
        assert "?" in self.text("#djq-question")
        self.find("#djq-confirm").click()
        return self.text(".messagelist .success")

    def screenshot(self, name: str, width: int = 1400) -> None:
        if os.environ.get("DJ_QUEUE_SCREENSHOTS") != "1":
            return
        # The admin scrolls inner containers, so the page's own height is not the content's.
        height = self.browser.execute_script(
            "return Math.max(...Array.from(document.querySelectorAll('body, body *'), e => e.scrollHeight))")
        chrome = self.browser.execute_script("return window.outerHeight - window.innerHeight")
        self.browser.set_window_size(width, min(height + chrome + 20, 2400))
        IMAGES.mkdir(parents=True, exist_ok=True)
        assert self.browser.save_screenshot(str(IMAGES / name))
        self.browser.set_window_size(width, 1000)


def _finished(*job_ids: int) -> bool:
    return Job.objects.filter(pk__in=job_ids, finished_at__isnull=False).count() == len(job_ids)


def test_operator_session(browser, server, start_runtime, django_user_model):
    django_user_model.objects.create_superuser("operator", "ops@example.com", "night-shift")
    runtime = start_runtime("async")
    ok = tasks.add.enqueue(2, 3)
    SideEffect.objects.create(key="report-42", pid=0)  # makes the next job fail on the unique key
    broken = tasks.record.enqueue("report-42")
    wait_until(lambda: _finished(int(ok.id), int(broken.id)), timeout=60, message="first jobs ran")
    wait_until(lambda: Process.objects.filter(kind="worker").exists(), timeout=30, message="a worker")

    operator = Operator(browser, server)
    operator.log_in("operator", "night-shift")
    assert operator.text('[data-count="failed"] strong') == "1"
    assert operator.text('[data-count="finished_recently"] strong') == "1"
    assert "worker" in operator.text("#djq-processes")

    # Pause: jobs stay ready while another queue keeps running.
    message = operator.act('tr[data-queue="default"] button[data-op="pause"]')
    assert "Paused queue 'default'" in message
    held = tasks.add.enqueue(10, 20)
    elsewhere = tasks.important.enqueue(7)
    wait_until(lambda: _finished(int(elsewhere.id)), timeout=30, message="the unpaused queue's job ran")
    assert ReadyExecution.objects.filter(job_id=int(held.id)).exists(), runtime.log()
    operator.open(DASHBOARD)
    assert operator.text('[data-count="ready"] strong') == "1"
    assert "paused" in operator.text('tr[data-queue="default"]')
    operator.screenshot("dashboard.png")

    assert "Resumed queue 'default'" in operator.act('tr[data-queue="default"] button[data-op="resume"]')
    wait_until(lambda: _finished(int(held.id)), timeout=30, message="the resumed queue's job ran")

    # The failed job: read why, fix the cause, retry, see it succeed.
    operator.find('[data-count="failed"]').click()
    operator.find(f'tr[data-job="{broken.id}"] a').click()
    assert operator.text("#djq-state") == "failed"
    assert "IntegrityError" in operator.text("#djq-error")
    operator.screenshot("failed-job.png")
    SideEffect.objects.filter(key="report-42").delete()
    assert "Retried 1 failed job." in operator.act('#djq-job-actions button[data-op="retry"]')
    wait_until(lambda: _finished(int(broken.id)) and not FailedExecution.objects.exists(),
               timeout=30, message="the retried job succeeded")
    operator.open(f"/admin/dj_queue/dashboard/job/{broken.id}/")
    assert operator.text("#djq-state") == "finished"
    assert '"report-42"' in operator.text("#djq-result")
    assert Job.objects.get(pk=int(broken.id)).worker_ids.__len__() == 2
