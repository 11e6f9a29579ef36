"""The effects ledger: an append-only file, one JSON line per record, written with O_APPEND.

Independent of the orchestrator's database on purpose: the checker compares what the handlers
did (this file) with what the server says happened (the API). Every write is a single
``os.write`` of one short line on a descriptor opened with O_APPEND, so lines from concurrent
worker processes never interleave; a process killed mid-job leaves whole lines behind.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Record:
    kind: str  # "start" (a handler began) or "effect" (its effect was applied)
    job: str
    attempt: int
    worker: str
    pid: int
    at: float  # time.time() of the host the worker runs on


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, kind: str, job: str, attempt: int, worker: str) -> None:
        line = (
            orjson.dumps(
                {
                    "kind": kind,
                    "job": job,
                    "attempt": attempt,
                    "worker": worker,
                    "pid": os.getpid(),
                    "at": time.time(),
                }
            )
            + b"\n"
        )
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, line)

    def records(self) -> list[Record]:
        if not self.path.exists():
            return []
        out: list[Record] = []
        for raw in self.path.read_bytes().splitlines():
            if not raw.strip():
                continue
            data: dict[str, Any] = orjson.loads(raw)
            out.append(
                Record(
                    data["kind"],
                    data["job"],
                    int(data["attempt"]),
                    data["worker"],
                    int(data["pid"]),
                    float(data["at"]),
                )
            )
        return out

    def by_job(self, kind: str) -> dict[str, list[Record]]:
        grouped: dict[str, list[Record]] = defaultdict(list)
        for record in self.records():
            if record.kind == kind:
                grouped[record.job].append(record)
        return grouped
