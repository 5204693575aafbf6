"""The runtime: a supervisor and the actors it runs. Actors call ``dj_queue.operations``, never SQL.

  base        Actor: process row, heartbeat thread, lifecycle hooks, error reporting
  pool        ThreadPool: execution threads that know how many are idle
  worker      Worker: claim batches no larger than the idle threads, execute, drain
  dispatcher  Dispatcher: promote due scheduled jobs in batches
  watchdog    Watchdog: a worker's job deadlines, cancellation requests, stuck threads
  supervisor  Supervisor base, actor specs, restart backoff
  forking     ForkSupervisor: one child process per actor
  threaded    AsyncSupervisor: actors as threads (also the embedded mode)
  modes       build_supervisor(options): the supervisor for the mode
  signals     Mailbox: signal- and thread-safe wakeups for the main loops
  pidfile     supervisor_pidfile
  options     load_options: settings <- --config YAML <- CLI flags
"""
