# dj_queue developer shortcuts. Every target creates the virtualenv on first use.
#
#   make test                 run the test suite on SQLite
#   make test DB=postgres     ... on PostgreSQL (DJ_QUEUE_PG_HOST/PORT/USER/PASSWORD)
#   make test DB=mysql        ... on MySQL / MariaDB (DJ_QUEUE_MYSQL_HOST/PORT/USER/PASSWORD)
#   make demo                 a tiny Django project: enqueue, run with a real worker, read back
#   make bench [DB=...]       benchmarks on all three databases (or one), with a raw-driver baseline
#   make bench-scale [DB=...] the scale mode on PostgreSQL (or DB): 5,000 vs 500,000 jobs waiting, 1,000,000 kept
#   make bench-rss [DB=...]   RSS per worker process after 100,000 no-op jobs (SQLite and PostgreSQL, or DB)
#   make bench-peers [DB=...] dj_queue beside pgqueuer, procrastinate, upstream dj-queue (PostgreSQL
#                             default; MariaDB/SQLite: upstream only), peers installed from PyPI
#   make lint                 byte-compile every source file (cheap syntax check)
#   make chaos [DB=...]       kill, stop and restart things under a running runtime; check no job is lost
#
# Variables: VENV (default .venv), PYTHON (interpreter that creates the venv; default: newest of
# python3.14 / 3.13 / 3.12, else python3), EXTRAS (default dev,postgres,mysql; make demo installs
# only dj-queue itself: the demo runs on SQLite), MYSQL_FALLBACK=0 (fail instead of retrying
# without mysqlclient), PYTEST_ARGS (extra pytest args),
# BENCH_ARGS (extra benchmarks/run.py or benchmarks/peers/run.py flags, e.g. BENCH_ARGS="--jobs 1000"),
# CHAOS_ARGS (extra chaos/run.py flags, e.g. CHAOS_ARGS="--jobs 1000 --delivery both").

VENV ?= .venv
DB ?= sqlite
EXTRAS ?= dev,postgres,mysql
MYSQL_FALLBACK ?= 1
PYTHON ?=
PYTEST_ARGS ?=
CHAOS_ARGS ?=

VPY := $(VENV)/bin/python
STAMP := $(VENV)/.dj-queue-installed
# The demo needs no extra (SQLite, no test tools), so it never tries to build mysqlclient.
DEMO_STAMP := $(VENV)/.dj-queue-demo-installed

.PHONY: help venv install test demo bench bench-scale bench-rss bench-peers chaos lint clean

help:
	@sed -n '2,19p' Makefile | sed 's/^# \{0,1\}//'

# A pyenv shim exists for versions that are not active, so each candidate must actually run.
$(VPY):
	@py="$(PYTHON)"; \
	if [ -z "$$py" ]; then \
	  for c in python3.14 python3.13 python3.12 python3; do \
	    if $$c -c 'import sys, sqlite3, ssl; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then \
	      py=$$c; break; \
	    fi; \
	  done; \
	fi; \
	if [ -z "$$py" ]; then echo "make: no Python >= 3.10 found (tried python3.14, 3.13, 3.12, python3)" >&2; exit 1; fi; \
	echo "make: creating $(VENV) with $$py ($$($$py --version 2>&1))"; \
	$$py -m venv $(VENV)

venv: $(VPY)

# On Python < 3.12 the environment markers in pyproject.toml pull Django 5.2 + django-tasks.
$(STAMP): pyproject.toml | $(VPY)
	@$(VPY) -m pip install -q --upgrade pip
	@echo "make: installing dj-queue[$(EXTRAS)] into $(VENV)"
	@if ! $(VPY) -m pip install -q -e ".[$(EXTRAS)]"; then \
	  case ",$(EXTRAS)," in *,mysql,*) ;; *) exit 1;; esac; \
	  if [ "$(MYSQL_FALLBACK)" != "1" ]; then exit 1; fi; \
	  fallback=$$(echo ",$(EXTRAS)," | sed 's/,mysql,/,/; s/^,//; s/,$$//'); \
	  echo "make: NOTE: installing with mysqlclient failed (MariaDB/MySQL client headers and"; \
	  echo "make:       pkg-config are needed to build it); retrying with dj-queue[$$fallback]."; \
	  echo "make:       'make test DB=mysql' will not work until mysqlclient installs."; \
	  $(VPY) -m pip install -q -e ".[$$fallback]" || exit 1; \
	fi
	@touch $(STAMP)

# A venv that already has the full install (newer than pyproject.toml) serves the demo as it is.
$(DEMO_STAMP): pyproject.toml | $(VPY)
	@if [ ! $(STAMP) -nt pyproject.toml ]; then \
	  $(VPY) -m pip install -q --upgrade pip && \
	  echo "make: installing dj-queue into $(VENV) (no extras: the demo runs on SQLite)" && \
	  $(VPY) -m pip install -q -e . || exit 1; \
	fi
	@touch $(DEMO_STAMP)

install: $(STAMP)

test: $(STAMP)
	@case "$(DB)" in sqlite|postgres|mysql) ;; \
	  *) echo "make: DB must be sqlite, postgres or mysql, not '$(DB)'" >&2; exit 2;; esac
	@if [ "$(DB)" = mysql ] && ! $(VPY) -c 'import MySQLdb' 2>/dev/null; then \
	  echo "make: mysqlclient is not installed in $(VENV): install the MariaDB/MySQL client headers" >&2; \
	  echo "make: and pkg-config, then: rm $(STAMP) && make test DB=mysql" >&2; exit 2; fi
	DJ_QUEUE_TEST_DB=$(DB) $(VPY) -m pytest $(PYTEST_ARGS)

demo: $(DEMO_STAMP)
	$(VPY) demo/run_demo.py

bench: $(STAMP)
	@if [ ! -f benchmarks/run.py ]; then echo "make: benchmarks/run.py does not exist yet" >&2; exit 1; fi
	$(VPY) benchmarks/run.py $(if $(filter command line,$(origin DB)),--db $(DB)) $(BENCH_ARGS)

# PostgreSQL unless DB is given on the command line. Not in CI: it installs the peers from PyPI.
bench-scale: $(STAMP)
	$(VPY) benchmarks/run.py --scale --db $(if $(filter command line,$(origin DB)),$(DB),postgres) $(BENCH_ARGS)

# SQLite and PostgreSQL unless DB is given: each worker's RSS after 100,000 no-op jobs.
bench-rss: $(STAMP)
	$(VPY) benchmarks/run.py --rss --db $(if $(filter command line,$(origin DB)),$(DB),sqlite,postgres) $(BENCH_ARGS)

bench-peers: $(STAMP)
	$(VPY) benchmarks/peers/run.py $(if $(filter command line,$(origin DB)),--db $(DB)) $(BENCH_ARGS)

# All three databases unless DB is given on the command line (DB defaults to sqlite for make test).
chaos: $(STAMP)
	$(VPY) chaos/run.py $(if $(filter command line,$(origin DB)),--db $(DB)) $(CHAOS_ARGS)

lint: $(STAMP)
	$(VPY) -m compileall -q dj_queue dj_queue_plugins tests examples demo benchmarks

clean:
	rm -rf .pytest_cache .test-dj_queue*.sqlite3* demo/*.sqlite3*
