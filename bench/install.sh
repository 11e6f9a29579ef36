#!/usr/bin/env bash
# Creates .venv-bench (the benchmark-only environment) from bench/requirements.txt.
# Kept apart from .venv so the peers never become product dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
test -x .venv-bench/bin/python || "$PYTHON" -m venv .venv-bench
if test -x .venv/bin/uv; then
    .venv/bin/uv pip install --quiet --python .venv-bench/bin/python -r bench/requirements.txt
    # The producer side of job-orchestrator (its SDK client; no server extras), so the
    # harness enqueues through the same AsyncClient a user's producer would.
    .venv/bin/uv pip install --quiet --python .venv-bench/bin/python -e .
else
    .venv-bench/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
    .venv-bench/bin/pip install --quiet --disable-pip-version-check -e .
fi
touch .venv-bench/.installed
