"""Every change of job state, one transaction each, and the only place job hooks fire.

Runtime actors call these functions and never write SQL; these functions never branch on the
database vendor, they ask the dialect (``dj_queue.plugins.get_dialect(using)``).

Modules:
  enqueue     enqueue_job, enqueue_jobs: new jobs into ready or scheduled executions
  claim       claim: ready -> claimed for a worker, in batches; release: claimed -> ready
  completion  finish: claimed -> finished; fail: claimed -> failed (fires dj_queue_job_failed)
  dispatch    dispatch_due: due scheduled -> ready, in batches
  execute     run one claimed job: resolve the task, call it, then finish or fail
  processes   register, heartbeat, deregister and prune runtime process rows
  recovery    fail claimed jobs whose process exited, was pruned or is missing
"""
