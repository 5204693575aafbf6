"""Every change of job state, one transaction each, and the only place job hooks fire.

Runtime actors call these functions and never write SQL; these functions never branch on the
database vendor, they ask the dialect (``dj_queue.plugins.get_dialect(using)``), whose fast paths
return None when it has no vendor SQL for a transition. The state diagram, with the function
behind each arrow, is in ``docs/architecture.md``.

Modules:
  enqueue      enqueue_job, enqueue_jobs: new jobs into ready, scheduled or blocked executions
  claim        claim, finish_and_claim: ready -> claimed in batches; release: claimed -> ready
  completion   finish: claimed -> finished; fail: claimed -> retry (scheduled/ready) or failed;
               rescue: a dead process's claim -> ready or failed
  dispatch     dispatch_due: due scheduled -> ready (or blocked), in batches
  concurrency  semaphores; blocked -> ready (unblock_next)
  jobs         operator actions: cancel, retry or discard failed jobs, discard waiting ones
  events       hooks after commit, dj_queue_jobs_ready, in-process wakeups
  execute      run one claimed job: resolve the task, call it, then finish, retry or fail
  processes    register, heartbeat, deregister and prune runtime process rows
  recovery     rescue claimed jobs whose process exited, was pruned or is missing
  queues, failed, recurring, retention, selectors: queue control, failed-job queries,
               recurring tasks, cleanup, queue selectors
"""
