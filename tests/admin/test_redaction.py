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


def test_a_task_found_only_through_task_modules_keeps_its_redaction(settings, tmp_path, monkeypatch):
    import sys

    from dj_queue import resolution

    (tmp_path / "dj_queue_secret_ext.py").write_text(
        "from dj_queue.compat import task\n\n\n@task\ndef pay(card_number: str, cents: int) -> int:\n"
        "    return cents\n\n\npay.func.redact = ['card_number']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.TASKS = {**settings.TASKS, "default": {**settings.TASKS["default"],
                                                    "OPTIONS": {"task_modules": ["dj_queue_secret_ext"]}}}
    job = make_job("ready", task_path="dj_queue_secret_ext.pay", args=[SECRET, 5])
    try:
        assert redacted_call(job) == ([MASK, 5], {})  # as a worker finds the task: with task_modules
    finally:
        sys.modules.pop("dj_queue_secret_ext", None)
        resolution._resolve.cache_clear()


def test_a_task_that_cannot_be_loaded_yet_is_not_remembered_as_having_no_secrets(monkeypatch):
    from dj_queue.dashboard import redaction

    job = charge_job()
    real = redaction.resolve_task
    monkeypatch.setattr(redaction, "resolve_task", lambda *a, **k: (_ for _ in ()).throw(ImportError("later")))
    assert redacted_call(job)[0][0] == SECRET  # not loadable now: nothing known to hide
    monkeypatch.setattr(redaction, "resolve_task", real)
    assert redacted_call(job)[0][0] == MASK  # loadable again: its redact list applies


@pytest.mark.parametrize("url", [
    "/admin/dj_queue/job/?args__0__startswith=4111",
    "/admin/dj_queue/job/?kwargs__Password=hunter2",
    "/admin/dj_queue/job/?kwargs__icontains=hunter2",
    "/admin/dj_queue/failedexecution/?job__args__0__startswith=4111",
    "/admin/dj_queue/recurringtask/?kwargs__password=x",
])
def test_changelists_refuse_filters_on_arguments_that_would_let_a_viewer_guess_secrets(admin_client, url):
    charge_job()
    assert admin_client.get(url).status_code == 400  # DisallowedModelAdminLookup, not a match count


def test_changelists_still_filter_on_plain_fields(admin_client):
    charge_job()
    assert admin_client.get("/admin/dj_queue/job/?queue_name=default").status_code == 200
