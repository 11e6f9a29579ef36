"""A private PgBouncer in transaction mode in front of the test PostgreSQL, started by the tests.

Debian's ``pgbouncer`` (``make test`` installs it as root when missing). It listens on a free
port, trusts every client (like the test PostgreSQL), and pools every database name (``*``), so a
test's fresh database is reached through it by changing the port. With CI=true a PgBouncer that
is missing or does not start fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.databases import IN_CI, PG_ADMIN_DSN

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run_as() -> str | None:
    """PgBouncer refuses to run as root: as root, run it as the postgres system user."""
    return "postgres" if os.geteuid() == 0 else None


class PgBouncer:
    def __init__(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        target = urlsplit(PG_ADMIN_DSN)
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        os.chmod(self.directory, 0o777)  # written by the postgres user when we are root
        (self.directory / "users.txt").write_text(f'"{target.username or "postgres"}" ""\n')
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host={target.hostname or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            # Small per-database pools: every test database gets one, on a shared server.
            "default_pool_size = 8\n"
            "max_client_conn = 2000\n"
            "server_idle_timeout = 10\n"
            "autodb_idle_timeout = 30\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
            f"logfile = {self.directory / 'pgbouncer.log'}\n"
            f"pidfile = {self.directory / 'pgbouncer.pid'}\n"
        )
        # Its output goes to a file: a pipe nobody reads fills up (64 KiB) and PgBouncer,
        # blocked writing its log, stops answering.
        self._output = self.directory / "pgbouncer.out"
        with self._output.open("wb") as output:
            self.process = subprocess.Popen(
                [binary, str(config)],
                user=_run_as(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self._output.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on port {self.port} within {_START_TIMEOUT}s")

    def url_for(self, direct_url: str) -> str:
        """The same database as ``direct_url``, through this PgBouncer."""
        parts = urlsplit(direct_url)
        user = parts.username or "postgres"
        return f"postgresql://{user}@127.0.0.1:{self.port}{parts.path}"

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer() -> PgBouncer:
    """A running PgBouncer, or skip (fail with CI=true) saying why not."""
    try:
        return PgBouncer()
    except Exception as error:
        reason = f"PgBouncer could not be started: {error}"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
