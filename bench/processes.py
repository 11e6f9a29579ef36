"""The benchmark's subprocesses: worker processes (and servers) of the system under test.

They are started by the project's one launcher (``job_orchestrator.verify.launcher``), with its
environment rule: the developer's ``ORCHESTRATOR_*`` settings stripped, then what the harness
passes (``PYTHONPATH`` so ``bench.*`` imports, the probe address) applied.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from job_orchestrator.verify.launcher import Processes

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = REPO_ROOT / "bench-results" / "logs"


def launcher() -> Processes:
    """A process group run from the repository root, logging to bench-results/logs."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return Processes(LOG_DIR, cwd=REPO_ROOT)


@dataclass
class WorkerProcesses:
    """Worker subprocesses started by the harness (each in its own session)."""

    name: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    group: Processes = field(default_factory=launcher)

    @property
    def log_dir(self) -> Path:
        return self.group.log_dir

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        log_name = f"{self.name}-{len(self.procs)}.log"
        (self.log_dir / log_name).unlink(missing_ok=True)  # one run's output per log
        env = {"PYTHONPATH": str(REPO_ROOT), **(env or {})}
        proc = self.group.spawn(argv, log_name=log_name, env=env)
        self.procs.append(proc)
        return proc.pid

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def dead(self) -> list[str]:
        return [f"pid {p.pid} exited {p.returncode}" for p in self.procs if p.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        self.group.stop_all(grace)
        self.procs.clear()


def bench_python() -> str:
    """The interpreter of the benchmark environment (the one running us)."""
    return sys.executable
