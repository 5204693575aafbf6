"""Every example runs as a subprocess on a fresh SQLite file and prints what it promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# script -> regular expressions its output must match
EXPECTED = {
    "basic_enqueue.py": [r"^enqueued job \d+$", r"^status: READY$", r"^queue: default, priority: 0$"],
    "result_readback.py": [
        r"^status: \S*READY\b",
        r"^args: \[7\]$",
        r"^kwargs: \{'template': 'launch'\}$",
        r"^worker_ids: \[\]$",
        r"^attempts: 0$",
        r"^return_value: not yet",
        r"^unknown id: TaskResultDoesNotExist$",
    ],
    "scheduled.py": [r"status READY, run_after ", r"^scheduled execution: scheduled_at ", r"^in the ready set: False$"],
    "priorities_and_queues.py": [
        r"^queue default: size 2,",
        r"^queue emails: size 1,",
        r"^queue reports-monthly: size 1,",
        r"^  job \d+ priority 50\n  job \d+ priority 0$",
        r"^emails paused: True$",
        r"^emails paused after resume: False$",
    ],
    "bulk_enqueue.py": [r"^enqueued 2000 jobs in ", r"^distinct ids: 2000$", r", all READY$"],
    "lifecycle_hooks.py": [
        r"^hook: supervisor started \(async mode\)$", r"^hook: worker started, 2 threads on queues \['\*'\]$",
        r"^on_thread_error got: RuntimeError: this hook fails; the next one still runs$", r"^hook: worker stopping$",
        r"^hook: worker exited$", r"^hook: supervisor exited$", r"^finished jobs: 3$",
    ],
    "enqueue_on_commit.py": [
        r"^jobs inside the transaction: 0$", r"^jobs after commit: 1$", r"^jobs after a rollback: 1$",
        r"^jobs after an enqueue outside a transaction: 2$", r"^bad arguments raise at once: EnqueueError$",
        r"^jobs in the end: 2$",
    ],
    "multi_database.py": [
        r"^dj_queue tables on default: 0$", r"^dj_queue tables on queue: [1-9]\d*$",
        r"^job \d+ stored on the queue database: example_app\.tasks\.send_welcome_email$", r"^read back: READY$",
        r"^jobs before commit: 1$", r"^jobs after commit: 2$", r"^queue 'default' size: 2$",
    ],
    "recurring.py": [
        r"^static task 'ping-every-second': [2-9]\d* runs fired$", r"^dynamic task 'ping-every-2s': [1-9]\d* runs fired$",
        r"^each run_at fired once: True$", r"^one job per run: True$", r"^all recurring jobs finished: True$",
        r"^unscheduled 'ping-every-2s': 1; static tasks cannot be unscheduled: True$",
    ],
    "concurrency.py": [
        r"^ready: 1, blocked: 2$", r"^ran one at a time, in order: True$", r"^first import_feed job: READY$",
        r"^second import_feed job: FAILED, error: dj_queue\.exceptions\.ConcurrencyLimitDiscarded$",
    ],
    "rate_limits.py": [
        r"^acme: 9 calls over [2-9]\.\d+s, at most [1-3] in any second$", r"^all succeeded: True$",
        r"^attempts per job: \[1\]$", r"^throttled jobs seen waiting: yes$", r"^globex done too: True$",
    ],
    "retry_failed.py": [
        r"^status: FAILED, attempts: 1$", r"^exception: builtins\.ValueError: card declined for order 7$",
        r"^traceback kept: True$", r"^retried: True$", r"^status: SUCCESSFUL, attempts: 2, same id: \d+$",
        r"^return value: 'charged order 7 on attempt 2'$",
    ],
    "retries.py": [
        r"^charge_card: SUCCESSFUL, attempts: 3, return value: 'charged order 7 on attempt 3'$",
        r"^  attempt 1 failed with example_app\.tasks\.GatewayBusy\n  attempt 2 failed with example_app\.tasks\.GatewayBusy$",
        r"^charge_bad_card: FAILED, attempts: 1, error: builtins\.ValueError$",
    ],
    "timeouts.py": [
        r"^crunch_numbers: FAILED, error: dj_queue\.exceptions\.JobTimeoutError$",
        r"^both jobs done within 10 s: True$", r"^next job on the same thread: SUCCESSFUL$",
    ],
    "cancel.py": [
        r"^cancel a scheduled job: cancelled$", r"^  its result: FAILED, error: dj_queue\.exceptions\.JobCancelledError$",
        r"^cancel a running job: requested$",
        r"^cancel it again: NotCancellableError: job \d+ already finished \(FAILED\); only waiting or running jobs can be cancelled$",
    ],
    "operator_cli.py": [
        r"^queue default: ready 3, failed 2, paused False$", r"^queue reports: ready 1, failed 0, paused True$",
        r"^default +3 +0 +0 +0 +2 +\d+\.\ds +no$", r"^reports +1 +0 +0 +0 +0 +\d+\.\ds +yes$",
        r"^live processes: [1-9]$", r"^worker +worker-\S+ +\S+ +\d+ +\d+\.\ds ago$",
        r"^ *\d+ +[\d-]+ [\d:]+ +default +example_app\.tasks\.send_welcome_email +smtplib\.SMTPServerDisconnected "
        r"+connection lost$",
        r"^1 failed job of backend 'default' matches$", r"^would retry 1 failed job of backend 'default': \d+$",
        r"^retried 1 failed job of backend 'default'$", r"^discarded 1 failed job of backend 'default'$",
        r"^healthy: [1-9] process\(es\) of backend 'default' heartbeated in the last 300s; largest backlog 4 ready",
        r"^exit 2: unhealthy: queue 'default' of backend 'default' has 4 ready jobs \(max 3\)$",
    ],
    "prometheus_metrics.py": [
        r'^dj_queue_jobs_total\{queue="default",state="enqueued",task="example_app\.tasks\.send_welcome_email"\} 3\.0$',
        r'^dj_queue_jobs_total\{queue="default",state="succeeded",task="example_app\.tasks\.send_welcome_email"\} 3\.0$',
        r'^dj_queue_jobs_total\{queue="default",state="started",task="example_app\.tasks\.charge_card"\} 3\.0$',
        r'^dj_queue_jobs_total\{queue="default",state="retried",task="example_app\.tasks\.charge_card"\} 2\.0$',
        r'^dj_queue_jobs_total\{queue="default",state="succeeded",task="example_app\.tasks\.charge_card"\} 1\.0$',
        r'^dj_queue_jobs_total\{queue="default",state="failed",task="example_app\.tasks\.charge_bad_card"\} 1\.0$',
        r'^dj_queue_job_duration_seconds_count\{queue="default",task="example_app\.tasks\.charge_card"\} 3\.0$',
        r'^dj_queue_queue_depth\{queue="default",state="failed"\} 1\.0$',
        r'^dj_queue_processes\{kind="worker"\} 1\.0$',
    ],
    "otel_tracing.py": [
        r"^POST /checkout \[SERVER, UNSET\]\n  send default \[PRODUCER, UNSET\] messaging\.message\.id=\d+\n"
        r"    process default \[CONSUMER, UNSET\] messaging\.message\.id=\d+, dj_queue\.attempt=1$",
        r"^    process default \[CONSUMER, ERROR\] messaging\.message\.id=\d+, dj_queue\.attempt=2, "
        r"error\.type=example_app\.tasks\.GatewayBusy\n"
        r"    process default \[CONSUMER, UNSET\] messaging\.message\.id=\d+, dj_queue\.attempt=3$",
        r"^one trace: True$", r"^trace context stored with the job: \['traceparent'\]$",
    ],
    "workflows.py": [
        r"^cancel_workflow: 2 steps cancelled$",
        r"^chain: succeeded, last step got \[60\.0\], returned 'invoice for 60\.0 sent'$",
        r"^group: succeeded, callback got \[\['thumb-100\.jpg', 'thumb-400\.jpg'\]\], returned 'published thumb-100\.jpg, thumb-400\.jpg'$",
        r"^workspace: \{'images': 2\}$",
        r"^failed chain: failed: fetch_order succeeded, price_order succeeded, charge failed, email_invoice cancelled$",
        r"^cancelled workflow: cancelled: fetch_order cancelled, price_order cancelled$",
    ],
    "progress.py": [
        r"^before it runs: \{'progress': None, 'metadata': None\}$", r"^seen while running: True ",
        r"^after it finished: \{'progress': 100\.0, 'metadata': \{'row': 1000\}\}$",
        r"^out of range: EnqueueError: dj_queue: progress must be a number from 0 to 100, got 120$",
    ],
    "prune.py": [
        r"^dj_queue_prune \(backend 'default'\) dry run, nothing deleted; would remove finished jobs: 3\n"
        r"  finished jobs by task path: example_app\.tasks\.send_welcome_email 3$",
        r"^after --dry-run: finished jobs 4, failed jobs 2, recurring executions 3$",
        r"^dj_queue_prune \(backend 'default'\) removed finished jobs: 3$",
        r"^after --older-than 1d: finished jobs 1, failed jobs 2, recurring executions 3$",
        r"^dj_queue_prune \(backend 'default'\) removed failed jobs: 1, recurring executions: 2$",
    ],
    "unique_jobs.py": [
        r"^first job \d+, duplicate got job \d+: same job: True$",
        r"^a scheduled job holds its key too: True$",
        r"^4 threads enqueued account 99: 1 distinct id, 1 job row$",
        r"^enqueue_all of 42, 50, 50: 2 distinct jobs$",
        r"^digest within the hour: same job True, status SUCCESSFUL$",
        r"^a finished report frees its key: new job True, status READY$",
    ],
    "task_hooks.py": [
        r"^account 13 vetoed: EnqueueVetoed; jobs written: 0$",
        r"^on_failure: job \d+ \(charge_account\) is FAILED: RuntimeError\('payment gateway refused account 7'\)$",
        r"^account 1: SUCCESSFUL$",
        r"^account 7: FAILED after 2 attempts; on_failure calls: 1$",
    ],
}


def test_every_example_is_tested():
    # An example is tested here, or by another test module that names it.
    others = " ".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py") if p.name != Path(__file__).name)
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert set(EXPECTED) <= scripts, "EXPECTED names a script that no longer exists"
    untested = sorted(s for s in scripts - set(EXPECTED) if s not in others)
    assert not untested, f"examples without a test: {untested}"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_runs_on_sqlite(script, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJ_QUEUE_EXAMPLE_DB="sqlite", DJ_QUEUE_EXAMPLE_SQLITE=str(tmp_path / "example.sqlite3"))
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    for pattern in EXPECTED[script]:
        assert re.search(pattern, proc.stdout, re.MULTILINE), f"{script}: no line matching {pattern!r} in:\n{proc.stdout}"


def test_demo_runs_its_jobs_and_reads_every_result_back(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJ_QUEUE_DEMO_SQLITE"] = str(tmp_path / "demo.sqlite3")
    demo = EXAMPLES.parent / "demo" / "run_demo.py"
    proc = subprocess.run([sys.executable, str(demo)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for pattern in (
        r"^immediate, before any worker ran: send_receipt on queue 'default'.*\n.*\n  status +READY$",
        r"^bulk: enqueued 5 jobs in one call",
        r"^immediate: send_receipt(.*\n){2}  status +SUCCESSFUL$",
        r"^  return_value +'receipt for order 42 sent to ada@example.com'$",
        r"^scheduled: build_report on queue 'reports'(.*\n){2}  status +SUCCESSFUL$",
        r"^failing: charge_card(.*\n){2}  status +FAILED$",
        r"^  errors +\['ValueError: card declined for order 7'\]$",
        r"^  worker_ids +\['worker-",
        r"^\(charge_card fails on purpose: the runtime logs its traceback below\)$",
        r"^runtime stopped \(exit code 0\)$",
        r"^every job finished",
    ):
        assert re.search(pattern, proc.stdout, re.MULTILINE), f"no line matching {pattern!r} in:\n{proc.stdout}"
