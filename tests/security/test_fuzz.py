"""Schemathesis over the published OpenAPI document, against a real server process.

`make test` runs a short pass (FUZZ_EXAMPLES, default 15 per operation); `make fuzz` runs
1,000 per operation. Every check is on: no 5xx, every response matches its documented schema
and status codes, schema-valid requests are accepted and invalid ones refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import running_server

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.fail("schemathesis is not installed: make install brings it")
    env = {
        "ORCHESTRATOR_API_KEYS": "admin:fuzz-key",
        # Long polls are legal for up to 30 s; held that long they would only slow the fuzzer.
        "ORCHESTRATOR_MAX_WAIT_SECONDS": "0.2",
        "ORCHESTRATOR_REAPER_INTERVAL": "0.2",
    }
    with running_server(f"sqlite:///{tmp_path / 'fuzz.db'}", env=env) as url:
        result = subprocess.run(
            [
                cli,
                "run",
                f"{url}/openapi.json",
                "--header",
                "Authorization: Bearer fuzz-key",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--no-color",
                "--seed",
                os.environ.get("FUZZ_SEED", "20261128"),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    summary = result.stdout[-3000:]
    print(summary)
    assert result.returncode == 0, summary
