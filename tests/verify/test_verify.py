"""The verification suite at a reduced size: the same scenarios `make verify` runs (real
server, SDK worker processes, the effects ledger, the chaos faults), so CI catches a broken
guarantee. One run per backend, shared by the tests of that backend."""

from __future__ import annotations

import subprocess
import sys

import pytest

from job_orchestrator.verify.runner import ChaosOptions, execute
from job_orchestrator.verify.scenarios import REGISTRY, Result, Sizes
from tests.support.databases import require_postgres

pytestmark = pytest.mark.slow

NAMES = [*REGISTRY, "chaos"]
SIZES = Sizes(
    e2e_jobs=40,
    claim_jobs=400,
    claim_workers=3,
    chaos_jobs=200,
    chaos_workers=4,
    chaos_duration=30.0,
)
_results: dict[str, dict[str, Result]] = {}


def results_for(backend: str) -> dict[str, Result]:
    if backend not in _results:
        results, _ = execute(NAMES, [backend], sizes=SIZES, chaos=ChaosOptions())
        _results[backend] = {r.scenario: r for r in results}
    return _results[backend]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_scenario(backend: str, name: str) -> None:
    if backend == "postgres":
        require_postgres()
    result = results_for(backend)[name]
    assert result.status == "pass", "\n".join([result.notes, *result.messages])
    assert result.violations == 0
    assert result.jobs > 0


def test_chaos_counts_its_faults() -> None:
    result = results_for("sqlite")["chaos"]
    assert result.faults >= 3  # worker kills, the API kill, the poison's victims
    assert "worker kills" in result.notes


def test_command_prints_the_table_and_exits_zero() -> None:
    command = [
        sys.executable,
        "-m",
        "job_orchestrator.verify.cli",
        "idempotency",
        "--backend",
        "sqlite",
        "--quick",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "idempotency" in done.stdout and "pass" in done.stdout


def test_unreachable_url_fails_with_a_reason() -> None:
    command = [
        sys.executable,
        "-m",
        "job_orchestrator.verify.cli",
        "e2e",
        "--url",
        "http://127.0.0.1:9",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "FAIL" in done.stdout
