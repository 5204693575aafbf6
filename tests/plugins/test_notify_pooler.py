"""The notify listener behind PgBouncer in transaction-pooling mode, and ``notify_database_alias``."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.db import connection, connections

from dj_queue_plugins import notify
from dj_queue_plugins.notify import NotifyWaker
from tests.conftest import wait_until
from tests.e2e.pgbouncer import pgbouncer  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.applies(settings.DB == "postgres", reason="LISTEN/NOTIFY and PgBouncer are PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

FALLBACK = ("dj_queue: the notify listener's connection to database '{}' goes through a connection "
            "pooler, where LISTEN does not work; workers poll only (set notify_database_alias to a direct "
            "connection)")


class Backend:
    """What the waker hook reads from a worker."""

    def __init__(self, **options) -> None:
        self.alias = "default"
        self.queues: set[str] = set()
        self.options = {"listen_notify": True, "database_alias": "default", "notify_database_alias": None,
                        "on_thread_error": None, **options}


@pytest.fixture
def through_pgbouncer(pgbouncer, monkeypatch):  # noqa: F811
    """Listener connections for ``default`` go through the PgBouncer instead of straight to PostgreSQL."""
    direct = notify.connection_params
    monkeypatch.setattr(notify, "connection_params", lambda using: {**direct(using), "port": pgbouncer.port})
    return pgbouncer


@pytest.fixture
def pooled_alias(pgbouncer, monkeypatch):  # noqa: F811
    """A database alias "pooled", seen by the notify plugin only: the test database through the PgBouncer."""
    from django.db.backends.postgresql.base import DatabaseWrapper  # needs psycopg: PostgreSQL runs only

    pooled = DatabaseWrapper({**connection.settings_dict, "PORT": str(pgbouncer.port),
                              "DISABLE_SERVER_SIDE_CURSORS": True}, alias="pooled")
    monkeypatch.setattr(notify, "connections", {"default": connections["default"], "pooled": pooled})
    yield "pooled"
    pooled.close()


def test_the_waker_hook_answers_none_with_one_warning_when_the_queue_database_is_pooled(pooled_alias, caplog):
    caplog.set_level(logging.WARNING, logger="dj_queue.notify")
    assert notify.dj_queue_waker(Backend(database_alias=pooled_alias)) is None
    assert [record.getMessage() for record in caplog.records if record.name == "dj_queue.notify"] == [
        FALLBACK.format("pooled")]


def test_the_waker_hook_listens_on_notify_database_alias_when_the_queue_database_is_pooled(pooled_alias, caplog):
    caplog.set_level(logging.WARNING, logger="dj_queue.notify")
    waker = notify.dj_queue_waker(Backend(database_alias=pooled_alias, notify_database_alias="default"))
    try:
        assert isinstance(waker, NotifyWaker)
        wait_until(waker.listening.is_set, timeout=10, message="the listener to LISTEN")
        assert not [record for record in caplog.records if record.name == "dj_queue.notify"]
    finally:
        waker.close()


def test_behind_pooler_is_false_on_a_direct_connection():
    assert notify.behind_pooler("default") is False


def test_a_listener_behind_a_transaction_pool_stops_with_one_warning_and_workers_poll(through_pgbouncer, caplog):
    errors: list[BaseException] = []
    caplog.set_level(logging.WARNING, logger="dj_queue.notify")
    waker = NotifyWaker("default", "default", on_error=errors.append)
    try:
        waker._thread.join(15)
        assert not waker._thread.is_alive()
        assert not waker.listening.is_set()
        assert waker.backend_pid is None
        assert [record.getMessage() for record in caplog.records if record.name == "dj_queue.notify"] == [FALLBACK.format("default")]
        assert errors == []
        # Polling and in-process wakeups still work: the waker is an in-process waker without a listener.
        waker.notify()
        assert waker.wait(1)
    finally:
        waker.close()


def test_the_pooler_really_is_in_the_way(through_pgbouncer):
    """The reason for the check: through the pool, the startup pid is not the server's."""
    import psycopg

    with psycopg.connect(**notify.connection_params("default"), autocommit=True) as conn:
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != conn.info.backend_pid


def test_a_direct_listener_listens_and_reports_the_server_pid():
    waker = NotifyWaker("default", "default")
    try:
        wait_until(waker.listening.is_set, timeout=10, message="the listener to LISTEN")
        with connection.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [waker.backend_pid])
            assert cursor.fetchone() == ('LISTEN "dj_queue_default"',)
    finally:
        waker.close()


def test_the_waker_hook_listens_through_notify_database_alias():
    waker = notify.dj_queue_waker(Backend(database_alias="queue-db-behind-a-pooler", notify_database_alias="default"))
    try:
        assert isinstance(waker, NotifyWaker)
        assert waker.using == "default"
    finally:
        waker.close()


def test_without_notify_database_alias_the_waker_listens_on_the_queue_database():
    waker = notify.dj_queue_waker(Backend())
    try:
        assert waker.using == "default"
    finally:
        waker.close()
