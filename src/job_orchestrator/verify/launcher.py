"""The one way this project starts processes: API servers, SDK workers, a throwaway PostgreSQL.

Tests, the verification suite, the benchmark and the demo all start servers through
``ServerProcess`` and every other process through ``Processes.spawn``, and take ports from
``free_port``.

The environment rule, the same for every process started here: the developer's own
``ORCHESTRATOR_*`` variables (and ``DATABASE_URL``, which the server's settings read as an alias)
are stripped, then what the caller passes is applied. The server reads its settings and the
``server`` command's options from those variables, so a developer's shell must not change what a
test, a verification or a benchmark runs.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

ADMIN_DSN = os.environ.get(
    "ORCHESTRATOR_VERIFY_PG_DSN",
    os.environ.get("ORCHESTRATOR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
SERVER_MODULE = "job_orchestrator.cli.server_entry"
LOG_TAIL = 20_000  # characters of a log quoted in an error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the developer's server settings, then ``env``."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("ORCHESTRATOR_") and name != "DATABASE_URL"
    }
    return {**inherited, **(env or {})}


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes] | None,
    timeout: float = 30.0,
    *,
    path: str = "/readyz",
) -> None:
    """Until ``url + path`` answers 200; fails at once if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        if http_status(f"{url}{path}") == 200:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url}{path} did not answer 200 within {timeout} s")


def wait_port_free(port: int, timeout: float = 10.0) -> None:
    """Until ``port`` can be bound again (it may linger a moment after a SIGKILL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
            return
        except OSError:
            time.sleep(0.1)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _await_exit(process: subprocess.Popen[bytes], wait: float) -> bool:
    """Wait ``wait`` seconds for an already signalled process, then SIGKILL its session; True
    when it took the SIGKILL. Whatever is left of the session afterwards (a killed supervisor's
    children) is killed too."""
    killed = False
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        killed = True
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)
    _signal_group(process, signal.SIGKILL)
    return killed


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 10) -> bool:
    """``sig`` to the process's session, SIGKILL after ``wait`` s; True when it took the SIGKILL."""
    if process.poll() is not None:
        return False
    _signal_group(process, sig)
    return _await_exit(process, wait)


class Processes:
    """Every process started for one run; all of them are stopped on ``close()``.

    Each writes its output to ``log_dir / log_name``, appended to, so a restarted process keeps
    one log."""

    def __init__(self, log_dir: Path, *, cwd: Path | None = None) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, command: Sequence[str], *, log_name: str, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``command`` in a session of its own, with ``child_environment(env)``."""
        with open(self.log_dir / log_name, "ab") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                list(command),
                cwd=self.cwd,
                env=child_environment(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._running.append((log_name, process))
        return process

    def log(self, log_name: str) -> str:
        """The end of a process's log, for an error message."""
        try:
            return (self.log_dir / log_name).read_text(errors="replace")[-LOG_TAIL:]
        except OSError:
            return ""

    def exited(self) -> list[tuple[str, int]]:
        """(log name, exit status) of every process that is no longer running."""
        return [
            (name, process.returncode)
            for name, process in self._running
            if process.poll() is not None
        ]

    def stop(self, process: subprocess.Popen[bytes], grace: float = 10) -> int | None:
        """SIGTERM (a worker hands its running jobs back), SIGKILL after ``grace`` s. Returns
        the exit status when the process had already exited by itself, else None."""
        early = process.poll()
        _stop(process, signal.SIGTERM, wait=grace)
        return early

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, the whole session (a uvicorn supervisor and its children alike)."""
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM to every process at once, SIGKILL to those still there after ``grace`` s:
        for processes that do not depend on each other (a system's workers)."""
        for _, process in self._running:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, process in self._running:
            _await_exit(process, max(0.1, deadline - time.monotonic()))
        self._running.clear()

    def close(self, grace: float = 5.0) -> None:
        """Stop them one by one, the last started first: workers before the server they
        report to."""
        for _, process in reversed(self._running):
            _stop(process, signal.SIGTERM, wait=grace)
        self._running.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ServerProcess:
    """``python -m job_orchestrator.cli.server_entry`` (the ``orchestrator server`` command) on
    a fixed port, kept across restarts.

    The defaults are the verification suite's: a reaper every 0.2 s and long polls that re-check
    for due jobs every 0.1 s, so backoff gaps are measured tightly. ``None`` leaves a setting to
    the server (or to ``env``/``args``). ``python`` is the interpreter whose environment has the
    server installed (the benchmark runs in another one).
    """

    def __init__(
        self,
        processes: Processes,
        database_url: str,
        *,
        name: str = "server",
        reaper_interval: float | None = 0.2,
        poll_interval: float | None = 0.1,
        workers: int = 1,
        log_level: str | None = "warning",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.processes = processes
        self.database_url = database_url
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.reaper_interval = reaper_interval
        self.workers = workers
        self.log_level = log_level
        self.args = list(args)
        polls = {} if poll_interval is None else {"ORCHESTRATOR_POLL_INTERVAL": str(poll_interval)}
        self.env = {**polls, **(env or {})}
        self.python = python
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.killed = False  # it did not stop within the grace period after SIGTERM

    @property
    def log_name(self) -> str:
        return f"{self.name}.log"

    @property
    def log_path(self) -> Path:
        return self.processes.log_dir / self.log_name

    def log(self) -> str:
        return self.processes.log(self.log_name)

    def command(self, migrate: bool | None) -> list[str]:
        """The command line; ``migrate`` None leaves migrating at startup to the settings."""
        command = [self.python, "-m", SERVER_MODULE, "--database-url", self.database_url]
        command += ["--port", str(self.port)]
        if self.workers != 1:
            command += ["--workers", str(self.workers)]
        if self.reaper_interval is not None:
            command += ["--reaper-interval", str(self.reaper_interval)]
        if self.log_level is not None:
            command += ["--log-level", self.log_level]
        if migrate is not None:
            command.append("--migrate" if migrate else "--no-migrate")
        return command + self.args

    def spawn(self, *, migrate: bool | None = True) -> subprocess.Popen[bytes]:
        """Start it without waiting (see ``wait_until_ready``)."""
        self.returncode = None
        self.killed = False
        self.process = self.processes.spawn(
            self.command(migrate), log_name=self.log_name, env=self.env
        )
        return self.process

    def wait_until_ready(self, timeout: float = 30.0, *, path: str = "/readyz") -> None:
        """Until ``path`` answers 200 (``/healthz`` for a server whose database is down);
        the error quotes the server's log."""
        try:
            wait_ready(self.url, self.process, timeout, path=path)
        except (RuntimeError, TimeoutError) as error:
            raise type(error)(f"{error}:\n{self.log()}") from None

    def start(self, *, migrate: bool | None = True, timeout: float = 30.0) -> None:
        self.spawn(migrate=migrate)
        self.wait_until_ready(timeout)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM to its session, SIGKILL after ``grace`` s; returns its exit status."""
        if self.process is None:
            return None
        self.killed = _stop(self.process, signal.SIGTERM, wait=grace)
        self.returncode = self.process.returncode
        return self.returncode

    @property
    def stopped_gracefully(self) -> bool:
        """Exited by itself on SIGTERM: status 0, or uvicorn re-raising the signal it handled."""
        return not self.killed and self.returncode in (0, -signal.SIGTERM)

    def kill(self) -> None:
        if self.process is not None:
            self.processes.kill(self.process)

    def restart(self) -> None:
        self.kill()
        wait_port_free(self.port)
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
