"""Processes the suite starts: API servers, SDK worker processes, a throwaway PostgreSQL cluster.

Every process is started in a session of its own and registered with a ``Processes`` group,
which kills whatever is still running when the group closes (on success, failure or Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

ADMIN_DSN = os.environ.get(
    "ORCHESTRATOR_VERIFY_PG_DSN",
    os.environ.get("ORCHESTRATOR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        if http_status(f"{url}/readyz") == 200:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the server at {url} was not ready within {timeout} s")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 10) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class Processes:
    """Every process started for one run; all of them are stopped on ``close()``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def spawn(
        self, command: Sequence[str], *, log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / log_name, "ab")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> int | None:
        """SIGTERM (a worker hands its running jobs back), SIGKILL after 10 s. Returns the exit
        status when the process had already exited by itself, else None."""
        early = process.poll()
        _stop(process, signal.SIGTERM, wait=10)
        return early

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, the whole session (a uvicorn supervisor and its children alike)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def close(self) -> None:
        for process in reversed(self._running):
            _stop(process, signal.SIGTERM, wait=5)
        self._running.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ServerProcess:
    """``python -m job_orchestrator.cli.server_entry`` on a fixed port (kept across restarts)."""

    def __init__(
        self,
        processes: Processes,
        database_url: str,
        *,
        name: str = "server",
        reaper_interval: float = 0.2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.processes = processes
        self.database_url = database_url
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.reaper_interval = reaper_interval
        # Long polls re-check for due jobs often, so backoff gaps are measured tightly.
        self.env = {"ORCHESTRATOR_POLL_INTERVAL": "0.1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, migrate: bool = True) -> None:
        command = [
            sys.executable,
            "-m",
            "job_orchestrator.cli.server_entry",
            "--database-url",
            self.database_url,
            "--port",
            str(self.port),
            "--reaper-interval",
            str(self.reaper_interval),
            "--log-level",
            "warning",
            "--migrate" if migrate else "--no-migrate",
        ]
        self.process = self.processes.spawn(command, log_name=f"{self.name}.log", env=self.env)
        wait_ready(self.url, self.process)

    def kill(self) -> None:
        if self.process is not None:
            self.processes.kill(self.process)

    def restart(self) -> None:
        self.kill()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the port may linger a moment after SIGKILL
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.1)
        self.start(migrate=False)


# ---- PostgreSQL ---------------------------------------------------------------------------------
async def _admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def admin(dsn: str, sql: str) -> None:
    import asyncio

    asyncio.run(_admin(dsn, sql))


def postgres_reason(dsn: str = ADMIN_DSN) -> str | None:
    """None when PostgreSQL answers at ``dsn``, else why not."""
    try:
        admin(dsn, "SELECT 1")
    except Exception as error:
        return f"PostgreSQL at {dsn} is not reachable: {type(error).__name__}: {error}"
    return None


class PostgresDatabase:
    """A database of our own (``jo_verify_<random>``) on a server we do not own; dropped after."""

    def __init__(self, admin_dsn: str = ADMIN_DSN) -> None:
        self.admin_dsn = admin_dsn
        self.name = f"jo_verify_{uuid.uuid4().hex[:10]}"
        self.url = f"{admin_dsn.rsplit('/', 1)[0]}/{self.name}"

    def __enter__(self) -> Self:
        admin(self.admin_dsn, f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            admin(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


class ThrowawayCluster:
    """A PostgreSQL cluster of our own in a temporary directory (initdb + pg_ctl), so the suite
    can stop and start it; the shared server is never touched. As root, it runs as ``postgres``.
    """

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("initdb/pg_ctl not found (no PostgreSQL server binaries)")
        self.bindir = bindir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="jo-verify-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.prefix, *args],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> Self:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.dir / "postgres.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"
        )

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.init()
        except BaseException:
            self.destroy()
            raise

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()
