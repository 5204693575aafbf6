"""Who may see and do what: staff only, and one specific permission per action."""

from __future__ import annotations

import pytest

from dj_queue.dashboard.actions import ACTIONS
from dj_queue.models import Pause
from tests.factories import make_job

pytestmark = pytest.mark.django_db
PAGES = ["/admin/dj_queue/dashboard/", "/admin/dj_queue/dashboard/jobs/failed/"]
ACTION = "/admin/dj_queue/dashboard/action/"
PERMISSIONS = {
    "pause": "dj_queue.add_pause", "resume": "dj_queue.delete_pause", "clear": "dj_queue.delete_readyexecution",
    "discard": "dj_queue.delete_job", "cancel": "dj_queue.change_job", "retry": "dj_queue.change_failedexecution",
    "enqueue_again": "dj_queue.add_job", "unschedule": "dj_queue.delete_recurringtask",
    "run_now": "dj_queue.change_job", "change_priority": "dj_queue.change_job",
}
REQUESTS = {
    "pause": {"queue": "q"}, "resume": {"queue": "q"}, "clear": {"queue": "q"},
    "discard": {"state": "failed", "ids": "1"}, "cancel": {"state": "ready", "ids": "1"},
    "retry": {"state": "failed", "ids": "1"},
    "enqueue_again": {"state": "finished", "ids": "1"}, "unschedule": {"key": "k"},
    "run_now": {"state": "scheduled", "ids": "1"}, "change_priority": {"state": "ready", "ids": "1", "priority": "3"},
}


def test_every_action_has_a_documented_permission():
    assert {name: action.permission for name, action in ACTIONS.items()} == PERMISSIONS


@pytest.mark.parametrize("url", [*PAGES, ACTION])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.post(url) if url == ACTION else client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_non_staff_users_are_sent_to_login(client, django_user_model):
    client.force_login(django_user_model.objects.create(username="customer"))
    response = client.get(PAGES[0])
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", PAGES)
def test_staff_without_view_permission_get_403(staff_client, url):
    assert staff_client().get(url).status_code == 403


def test_job_detail_needs_view_permission(staff_client):
    job = make_job("failed")
    assert staff_client().get(f"/admin/dj_queue/dashboard/job/{job.pk}/").status_code == 403


@pytest.mark.parametrize("op", sorted(PERMISSIONS))
def test_each_action_needs_its_own_permission(staff_client, op):
    others = [perm for name, perm in PERMISSIONS.items() if perm != PERMISSIONS[op]]
    client = staff_client("dj_queue.view_job", *others)
    data = {"op": op, "backend": "default", "confirm": "yes", **REQUESTS[op]}
    assert client.post(ACTION, {**data, "confirm": ""}).status_code == 403
    assert client.post(ACTION, data).status_code == 403


@pytest.mark.parametrize("confirm", ["", "yes"])
def test_an_action_also_needs_the_view_permission(staff_client, confirm):
    job = make_job("ready")
    client = staff_client(*PERMISSIONS.values())  # every action permission, but not view_job
    data = {"op": "cancel", "state": "ready", "ids": str(job.pk), "backend": "default", "confirm": confirm}
    assert client.post(ACTION, data).status_code == 403


def test_a_permitted_staff_user_can_act(staff_client):
    client = staff_client("dj_queue.view_job", "dj_queue.add_pause")
    response = client.post(ACTION, {"op": "pause", "queue": "q", "backend": "default", "confirm": "yes"})
    assert response.status_code == 302 and Pause.objects.filter(queue_name="q").exists()


def test_buttons_are_only_offered_with_the_permission(staff_client):
    make_job("ready", queue="q")
    make_job("failed", queue="q")
    client = staff_client("dj_queue.view_job")
    dashboard = client.get(PAGES[0]).content.decode()
    failed = client.get(PAGES[1]).content.decode()
    assert 'data-op="pause"' not in dashboard and 'data-op="clear"' not in dashboard
    assert 'value="retry"' not in failed and 'value="discard"' not in failed
