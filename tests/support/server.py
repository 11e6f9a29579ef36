"""The real server (uvicorn, `orchestrator server`) as a subprocess on a free port.

Started as ``python -m job_orchestrator.cli.server_entry`` (the same command as
``orchestrator server``, without needing the console script), in its own process group so that
stopping it (SIGTERM, then SIGKILL after a grace period) also stops its worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVER_MODULE = "job_orchestrator.cli.server_entry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    returncode: int | None = field(default=None)
    killed: bool = False  # it did not stop within the grace period after SIGTERM

    @property
    def stopped_gracefully(self) -> bool:
        """Exited by itself on SIGTERM: status 0, or uvicorn re-raising the signal it handled."""
        return not self.killed and self.returncode in (0, -signal.SIGTERM)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20_000:]
        except OSError:
            return ""


def _wait_until_up(server: ServerProcess, path: str, want: int | None, timeout: float) -> None:
    """Until ``path`` answers (with status ``want`` when given); fail with the server's log."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=server.url, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {server.process.returncode}:\n{server.log()}"
                )
            try:
                response = client.get(path)
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if want is None or response.status_code == want:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            time.sleep(0.1)
    raise TimeoutError(f"{server.url}{path} not up within {timeout} s ({last}):\n{server.log()}")


def stop(server: ServerProcess, *, grace: float = 10.0) -> int:
    """SIGTERM to the process group, SIGKILL if it is still there after ``grace`` seconds."""
    process = server.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            server.killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Worker processes of a killed supervisor: make sure none of the group survives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    server.returncode = process.returncode
    return process.returncode


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
    port = free_port()
    command = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--database-url",
        database_url,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *(args or []),
    ]
    log_dir = Path(tempfile.mkdtemp(prefix="orchestrator-server-"))
    log_path = log_dir / "server.log"
    # The test's own settings must not leak into the server, apart from what we pass.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    child_env.pop("DATABASE_URL", None)
    child_env.update(env or {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        if wait_for_ready:
            _wait_until_up(server, "/readyz", 200, timeout)
        else:
            _wait_until_up(server, "/healthz", 200, timeout)
        yield server
    finally:
        stop(server)
        with contextlib.suppress(OSError):
            log_path.unlink()
            log_dir.rmdir()
