"""In a real browser: a running job's progress updates live on its page, and a workflow's page
shows its steps, next to a real runtime."""

from __future__ import annotations

import pytest

from dj_queue.api import get_progress
from dj_queue.models import Job, Workflow
from dj_queue.workflows import chain, step
from tests.browser.test_dashboard import DASHBOARD, Operator
from tests.conftest import wait_until
from tests.tasks_app.models import SideEffect
from tests.tasks_app.workflow_tasks import add, boom, report_progress

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_progress_updates_live_and_a_workflow_shows_its_steps(browser, server, start_runtime, django_user_model):
    django_user_model.objects.create_superuser("ops", "ops@example.com", "pw")
    start_runtime("async")
    running = report_progress.enqueue("release-browser")
    workflow = chain(step(add, 1, 2), step(boom), step(add, 5)).enqueue(name="browser flow")
    wait_until(lambda: get_progress(running.id)["progress"] == 50, timeout=60, message="progress at 50")
    operator = Operator(browser, server)
    operator.log_in("ops", "pw")
    operator.open(f"{DASHBOARD}job/{running.id}/")
    assert operator.text("#djq-progress-value") == "50 %"
    assert '"halfway"' in operator.text("#djq-progress-metadata")
    SideEffect.objects.create(key="release-browser")
    # No reload: the page's poll brings the task's last report in.
    operator.wait.until(lambda b: operator.text("#djq-progress-value") == "100 %")
    assert '"done"' in operator.text("#djq-progress-metadata")

    wait_until(lambda: Workflow.objects.get(pk=workflow.pk).status == "failed", timeout=60, message="flow failed")
    first_job = Job.objects.filter(workflow_step_id__isnull=False).order_by("pk").first()
    operator.open(f"{DASHBOARD}job/{first_job.pk}/")
    operator.find("#djq-workflow-link").click()
    assert operator.text("#djq-workflow-status") == "failed"
    states = [row.get_attribute("data-status") for row in
              browser.find_elements(operator.by.CSS_SELECTOR, "#djq-steps tbody tr")]
    assert states == ["failed", "succeeded", "failed", "cancelled"]
