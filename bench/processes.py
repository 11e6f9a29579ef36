"""The benchmark's subprocesses: worker processes (and servers) of the system under test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WorkerProcesses:
    """Worker subprocesses started by the harness (each in its own session)."""

    name: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = REPO_ROOT / "bench-results" / "logs"

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{self.name}-{len(self.procs)}.log"
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=full_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so stop() can signal its whole group
            )
        self.procs.append(proc)
        return proc.pid

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def dead(self) -> list[str]:
        return [f"pid {p.pid} exited {p.returncode}" for p in self.procs if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()


def bench_python() -> str:
    """The interpreter of the benchmark environment (the one running us)."""
    return sys.executable
