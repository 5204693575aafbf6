"""The harness's side of the database: one database per peer, created and dropped here; the
"jobs left" poll; and the counters read around a drain (rows read and transactions from
``pg_stat_database`` or MariaDB's global status, CPU time of the database server)."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process in seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def mariadbd_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class Database:
    """One vendor's server (or SQLite files in ``folder``)."""

    def __init__(self, vendor: str, folder: Path) -> None:
        self.vendor, self.folder = vendor, folder

    def name(self, peer: str) -> str:
        if self.vendor == "sqlite":
            return str(self.folder / f"{peer}.sqlite3")
        return f"dj_queue_peers_{peer}"

    def connect(self, name: str | None = None):
        """An autocommit connection to ``name`` (default: the server's admin database)."""
        env = os.environ.get
        if self.vendor == "postgres":
            import psycopg

            return psycopg.connect(host=env("DJ_QUEUE_PG_HOST", "127.0.0.1"), port=env("DJ_QUEUE_PG_PORT", "5432"),
                                   user=env("DJ_QUEUE_PG_USER", "postgres"), password=env("DJ_QUEUE_PG_PASSWORD", ""),
                                   dbname=name or "postgres", autocommit=True)
        if self.vendor == "mysql":
            import MySQLdb

            conn = MySQLdb.connect(host=env("DJ_QUEUE_MYSQL_HOST", "127.0.0.1"),
                                   port=int(env("DJ_QUEUE_MYSQL_PORT", "3306")),
                                   user=env("DJ_QUEUE_MYSQL_USER", "root"),
                                   passwd=env("DJ_QUEUE_MYSQL_PASSWORD", ""), **({"db": name} if name else {}))
            conn.autocommit(True)
            return conn
        import sqlite3

        return sqlite3.connect(name, timeout=20, isolation_level=None)

    def execute(self, sql: str, params: tuple = (), name: str | None = None) -> list[tuple]:
        conn = self.connect(name)
        try:
            cur = conn.cursor()
            if params:
                cur.execute(sql, params)
            else:  # MySQLdb would read a literal % as a placeholder
                cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def recreate(self, peer: str) -> str:
        name = self.name(peer)
        self.drop(peer)
        if self.vendor == "postgres":
            self.execute(f'CREATE DATABASE "{name}"')
        elif self.vendor == "mysql":
            self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def drop(self, peer: str) -> None:
        name = self.name(peer)
        if self.vendor == "postgres":
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif self.vendor == "mysql":
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")
        else:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(name + suffix).unlink(missing_ok=True)

    def wait_idle(self, name: str, timeout: float = 30) -> None:
        """Until no session is left on ``name``: sessions flush their statistics when they end."""
        if self.vendor != "postgres":
            return
        deadline = time.monotonic() + timeout
        while self.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))[0][0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"sessions on {name} still open after {timeout:.0f} s")
            time.sleep(0.05)

    def counters(self, name: str) -> dict[str, float]:
        """Rows read, transactions and server CPU so far (deltas of two calls are what count)."""
        if self.vendor == "postgres":
            # A new session each time, so no statistics snapshot is reused.
            rows = self.execute("SELECT tup_returned, xact_commit + xact_rollback"
                                " FROM pg_stat_database WHERE datname = %s", (name,))
            return {"rows": float(rows[0][0]), "xacts": float(rows[0][1])}
        if self.vendor == "mysql":
            # Innodb_rows_read is gone from MariaDB 10.11: the Handler_read_* counters count the
            # rows the storage engine handed to the server, by index or by scan. Both they and
            # Com_commit are server-wide, so anything else the server does meanwhile counts too.
            status = {key: float(value) for key, value in self.execute(
                "SHOW GLOBAL STATUS WHERE Variable_name LIKE 'Handler_read%'"
                " OR Variable_name IN ('Innodb_rows_read', 'Com_commit', 'Com_rollback')")}
            rows = status.get("Innodb_rows_read",
                              sum(v for k, v in status.items() if k.startswith("Handler_read")))
            return {"rows": rows, "xacts": status["Com_commit"] + status["Com_rollback"],
                    "server_cpu": sum(proc_cpu(pid) for pid in mariadbd_pids())}
        return {}


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving ``name``, sampled while a run goes on.

    Every backend seen started after the run did (the database had no session then but the
    poller's, which is left out), so each one's whole CPU time belongs to the run. A backend
    that ends between two samples loses what it did since the last one.
    """

    def __init__(self, name: str) -> None:
        self.name, self.seen = name, {}

    def sample(self, cursor) -> None:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                       (self.name,))
        for (pid,) in cursor.fetchall():
            self.seen[pid] = max(self.seen.get(pid, 0.0), proc_cpu(pid))

    def total(self) -> float:
        return sum(self.seen.values())
