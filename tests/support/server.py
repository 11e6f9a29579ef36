"""The real server (uvicorn, `orchestrator server`) as a subprocess on a free port.

Started by the project's one launcher, ``job_orchestrator.verify.launcher.ServerProcess``: in a
session of its own, so that stopping it (SIGTERM, then SIGKILL after a grace period) also stops
its worker processes, and with the launcher's environment rule (the developer's
``ORCHESTRATOR_*`` settings stripped, then the test's ``env`` applied).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from job_orchestrator.verify.launcher import Processes, ServerProcess


@contextlib.contextmanager
def run_server(
    database_url: str,
    *,
    workers: int = 1,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    wait_for_ready: bool = True,
    timeout: float = 60.0,
) -> Iterator[ServerProcess]:
    """A running server; with ``wait_for_ready`` False, only until /healthz answers (for a server
    whose database is unreachable and so never becomes ready)."""
    log_dir = Path(tempfile.mkdtemp(prefix="orchestrator-server-"))
    processes = Processes(log_dir)
    server = ServerProcess(
        processes,
        database_url,
        reaper_interval=None,
        poll_interval=None,
        workers=workers,
        args=args or [],
        env=env,
    )
    try:
        server.spawn(migrate=None)
        server.wait_until_ready(timeout, path="/readyz" if wait_for_ready else "/healthz")
        yield server
    finally:
        server.stop()
        processes.close()
        shutil.rmtree(log_dir, ignore_errors=True)


@contextlib.contextmanager
def running_server(
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """The URL of a real server, migrated at startup, at the server's own log level; its log
    goes to ``log_path`` when given."""
    log_dir = log_path.parent if log_path else Path(tempfile.mkdtemp(prefix="orchestrator-server-"))
    processes = Processes(log_dir)
    server = ServerProcess(
        processes,
        database_url,
        name=log_path.stem if log_path else "server",
        reaper_interval=None,
        poll_interval=None,
        log_level=None,
        args=args or [],
        env=env,
    )
    try:
        server.start(migrate=True)
        yield server.url
    finally:
        server.stop()
        processes.close()
        if log_path is None:
            shutil.rmtree(log_dir, ignore_errors=True)
