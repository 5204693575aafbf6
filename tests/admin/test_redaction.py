"""Argument redaction: secret values read ``***`` on every dashboard page and in the admin."""

from __future__ import annotations

import pytest

from dj_queue.config import DEFAULTS
from dj_queue.dashboard.redaction import MASK, mask, redacted_call
from dj_queue.models import RecurringTask
from tests.factories import make_job

pytestmark = pytest.mark.django_db
CHARGE = "tests.tasks_app.secret_tasks.charge"
SIGN_IN = "tests.tasks_app.secret_tasks.sign_in"
SECRET = "4111-1111-1111-1111"


@pytest.fixture
def redact_keys(settings):
    """``redact_keys`` set on the default backend."""
    def configure(keys: list[str]) -> None:
        tasks = {**settings.TASKS}
        tasks["default"] = {**tasks["default"], "OPTIONS": {**tasks["default"].get("OPTIONS", {}),
                                                            "redact_keys": keys}}
        settings.TASKS = tasks
    return configure


def charge_job(state: str = "failed"):
    return make_job(state, task_path=CHARGE, args=[SECRET, 12, {"token": "tok-1", "memo": "hi"}],
                    kwargs={"Password": "hunter2", "user": "ann"})


def test_default_is_no_keys():
    assert DEFAULTS["redact_keys"] == []


def test_mask_reaches_nested_dicts_and_ignores_case():
    value = {"a": [{"TOKEN": "x", "b": 1}], "password": {"deep": 2}}
    assert mask(value, frozenset({"token", "password"})) == {"a": [{"TOKEN": MASK, "b": 1}], "password": MASK}


def test_task_attribute_hides_a_positional_argument():
    job = charge_job()
    args, kwargs = redacted_call(job)
    assert args == [MASK, 12, {"token": "tok-1", "memo": "hi"}]
    assert kwargs == {"Password": "hunter2", "user": "ann"}


def test_option_and_task_keys_combine(redact_keys):
    redact_keys(["password", "token"])
    args, kwargs = redacted_call(charge_job())
    assert args == [MASK, 12, {"token": MASK, "memo": "hi"}]
    assert kwargs == {"Password": MASK, "user": "ann"}


def test_context_parameter_is_not_counted(redact_keys):
    redact_keys(["password"])
    job = make_job("ready", task_path=SIGN_IN, args=["ann", "hunter2"])
    assert redacted_call(job) == (["ann", MASK], {})


def test_jobs_of_unknown_tasks_use_the_option_only(redact_keys):
    redact_keys(["token"])
    job = make_job("ready", task_path="gone.module.task", args=[{"token": "t"}, "x"])
    assert redacted_call(job) == ([{"token": MASK}, "x"], {})


@pytest.mark.parametrize("state", ["ready", "scheduled", "claimed", "failed", "finished"])
def test_no_page_shows_a_secret(admin_client, redact_keys, state):
    redact_keys(["password", "token"])
    job = charge_job(state)
    pages = [f"/admin/dj_queue/dashboard/jobs/{state}/", f"/admin/dj_queue/dashboard/job/{job.pk}/",
             "/admin/dj_queue/job/", f"/admin/dj_queue/job/{job.pk}/change/"]
    if state != "finished":
        pages.append(f"/admin/dj_queue/{state}execution/")
    for url in pages:
        response = admin_client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert SECRET not in html and "hunter2" not in html and "tok-1" not in html, url
        assert "***" in html and "ann" in html, url


def test_recurring_task_detail_is_redacted(admin_client, redact_keys):
    redact_keys(["token"])
    task = RecurringTask.objects.create(key="nightly", schedule="0 3 * * *", task_path=CHARGE,
                                        args=[SECRET, 1], kwargs={"token": "tok-9"})
    html = admin_client.get(f"/admin/dj_queue/recurringtask/{task.pk}/change/").content.decode()
    assert SECRET not in html and "tok-9" not in html and html.count("***") == 2
