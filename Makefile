# job-orchestrator: every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install check lint format ui-deps client-generator pgbouncer-deps test test-fast fuzz demo verify benchmark bench-install up down reset logs clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --python $(PY) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the package, the server and the dev tools

check: install ## ruff and mypy (strict)
	$(VENV)/bin/ruff check src tests scripts examples bench
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

# The browser tests (tests/ui) drive Debian's chromium; without it they skip (with CI=true, fail).
ui-deps: ## install Debian's chromium for the browser tests, when root and apt-get can
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
		|| echo "ui-deps: apt-get could not install chromium: the browser tests will skip"; \
	else \
		echo "ui-deps: chromium is missing and installing it needs root and apt-get:" \
			"the browser tests (tests/ui) will skip; run: sudo apt-get install chromium"; \
	fi

# The generated-client test runs openapi-python-client from a venv of its own, so that the
# generator's pins never constrain the project's. Without a registry it skips (with CI=true, fails).
GEN_VENV := tests/generated_client/.venv

$(GEN_VENV)/.installed: tests/generated_client/requirements.txt | $(STAMP)
	@($(UV) venv --quiet --python $(PY) $(GEN_VENV) \
		&& $(UV) pip install --quiet --python $(GEN_VENV)/bin/python \
			-r tests/generated_client/requirements.txt && touch $@) \
	|| { echo "client-generator: could not install openapi-python-client:" \
		"the generated-client test will skip"; test "$$CI" != true; }

client-generator: $(GEN_VENV)/.installed ## openapi-python-client for the generated-client test


# The pgbouncer backend (tests/support/pgbouncer.py) starts Debian's pgbouncer; without it those
# tests skip (with CI=true, fail).
pgbouncer-deps: ## install Debian's pgbouncer for the PgBouncer test backend, when root and apt-get can
	@if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer) \
		|| echo "pgbouncer-deps: apt-get could not install pgbouncer: its tests will skip"; \
	else \
		echo "pgbouncer-deps: pgbouncer is missing and installing it needs root and apt-get:" \
			"the pgbouncer tests will skip; run: sudo apt-get install pgbouncer"; \
	fi

test: install ui-deps client-generator pgbouncer-deps ## the whole suite: SQLite, PostgreSQL, PostgreSQL through PgBouncer
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## skip the multi-process tests
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: install ## the whole job on embedded SQLite (DATABASE_URL=postgresql://... for PostgreSQL)
	$(PY) scripts/demo.py $(DEMO_ARGS)

fuzz: install ## schemathesis, every check, 1,000 cases per operation, against a real server
	FUZZ_EXAMPLES=1000 $(PY) -m pytest tests/security/test_fuzz.py -s --timeout 3600 $(PYTEST_ARGS)

verify: install ## the six seed verifications and a chaos run on PostgreSQL and SQLite; a table, exit 1 on any violation
	$(PY) -m job_orchestrator.verify.cli all $(VERIFY_ARGS)

BENCH_PY := .venv-bench/bin/python

.venv-bench/.installed: bench/requirements.txt
	bash bench/install.sh

bench-install: .venv-bench/.installed ## the separate benchmark environment (peers, matplotlib)

benchmark: install .venv-bench/.installed ## us vs procrastinate, pgqueuer, celery and the raw SQL floor
	$(BENCH_PY) -m bench.run --json bench-results/latest.json --plot bench-results/latest.png $(BENCH_ARGS)

up: install ## PostgreSQL + 2 API servers + workers in Docker, or local processes without Docker
	bash scripts/stack.sh up

down: ## stop what `make up` started
	bash scripts/stack.sh down

reset: ## stop and delete the stack's state (volumes, database file)
	bash scripts/stack.sh reset

logs: ## follow the stack's logs
	bash scripts/stack.sh logs

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist src/*.egg-info
