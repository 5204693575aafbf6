"""The embedding examples: asgi_app.py and uvicorn_app.py as scripts, gunicorn.conf.py under Gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import wait_until
from tests.embedding.conftest import Server, free_port, gunicorn_control_args

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def example_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJ_QUEUE_EXAMPLE_DB="sqlite", DJ_QUEUE_EXAMPLE_SQLITE=str(tmp_path / "example.sqlite3"))
    return env


def run_example(script: str, tmp_path) -> str:
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], cwd=tmp_path, env=example_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_asgi_app_runs_a_request_enqueued_job_inside_its_lifespan(tmp_path):
    assert run_example("asgi_app.py", tmp_path).splitlines() == [
        "lifespan: lifespan.startup.complete", "enqueued from a request", "status: SUCCESSFUL",
        "return_value: sent welcome to user 7", "lifespan: lifespan.shutdown.complete",
    ]


def test_uvicorn_app_serves_runs_the_job_and_stops(tmp_path):
    pytest.importorskip("uvicorn")
    out = run_example("uvicorn_app.py", tmp_path)
    assert "status: SUCCESSFUL\nreturn_value: sent welcome to user 3\nuvicorn stopped: True\n" in out, out


def test_gunicorn_conf_runs_jobs_in_the_workers(tmp_path):
    pytest.importorskip("gunicorn")
    env = {**example_env(tmp_path), "PYTHONPATH": os.path.abspath(EXAMPLES)}
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0", "--settings", "embedding.settings"],
                   cwd=tmp_path, env=env, check=True, timeout=120)
    port = free_port()
    conf = os.path.join(EXAMPLES, "gunicorn.conf.py")
    cmd = [sys.executable, "-m", "gunicorn", "-c", conf, "-b", f"127.0.0.1:{port}", *gunicorn_control_args()]
    server = Server(tmp_path, "example-gunicorn", cmd, env, port)
    try:
        wait_until(lambda: server.proc.poll() is not None or "embedded supervisor started" in server.log(),
                   timeout=30, message="a worker's supervisor")
        job = wait_until(lambda: _try(server, "/enqueue/?user=5"), timeout=30, message="the enqueue view")
        done = wait_until(lambda: (r := _try(server, f"/result/{job['id']}/")) and r["status"] == "SUCCESSFUL" and r,
                          timeout=30, message="the job")
        assert done["return_value"] == "sent welcome to user 5"
        assert server.terminate() == 0, server.log()
    finally:
        server.stop()


def _try(server: Server, path: str) -> dict | None:
    try:
        return server.get(path)[1]
    except OSError:
        return None
