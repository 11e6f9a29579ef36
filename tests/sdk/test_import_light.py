"""A worker host installs only the light dependencies: the SDK must not import the server."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("fastapi", "sqlalchemy", "starlette", "pydantic", "uvicorn", "asyncpg", "aiosqlite")
SERVER = ("job_orchestrator.api", "job_orchestrator.store", "job_orchestrator.services")

CHECK = f"""
import sys
{{imports}}
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({SERVER!r}))
print(heavy)
assert not heavy, heavy
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import job_orchestrator, job_orchestrator.sdk",
        "from job_orchestrator import Worker, Client, AsyncClient, handler, heartbeat, info",
        "import job_orchestrator.sdk.testing",
        "import job_orchestrator.cli.main",  # `orchestrator worker/jobs/dlq` stay light too
    ],
)
def test_importing_the_sdk_loads_no_server_module(imports: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(imports=imports)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_itself_catches_a_server_import() -> None:
    # Guards the test above against passing vacuously (e.g. a wrong module prefix).
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(imports="import job_orchestrator.api.app")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "fastapi" in result.stdout
