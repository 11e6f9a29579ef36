"""What the measured phases observe and how it is summarised: the probe datagrams each job
sends when it runs, the processing run, percentiles."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Pickup jobs are numbered from here so they never mix with throughput jobs.
PICKUP_SEQ_BASE = 10_000_000


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile, q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class ProcessRun:
    """What the processing phase observed."""

    first_lease: float
    completions: list[float]  # unix times, system-recorded where available
    complete: bool

    @property
    def last_completion(self) -> float:
        return max(self.completions)

    @property
    def seconds(self) -> float:
        return max(self.last_completion - self.first_lease, 1e-9)


# ---------------------------------------------------------------- probe receiver


class ProbeReceiver:
    """Collects the datagrams sent by `bench.probe.report` from the tasks."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bursts of ~10k datagrams/s must not overflow the socket buffer while
        # the harness is busy; SO_RCVBUFFORCE lifts rmem_max when we are root.
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 64 * 1024 * 1024)
                break
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.events: dict[int, float] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(128)
            except (TimeoutError, OSError):
                continue
            seq_raw, t_raw = data.decode().split()
            with self._lock:
                seq = int(seq_raw)
                if seq in self.events:
                    self.duplicates += 1  # at-least-once systems may rerun a job
                else:
                    self.events[seq] = float(t_raw)

    def count(self, predicate: Callable[[int], bool]) -> int:
        with self._lock:
            return sum(1 for seq in self.events if predicate(seq))

    def times(self, predicate: Callable[[int], bool]) -> dict[int, float]:
        with self._lock:
            return {s: t for s, t in self.events.items() if predicate(s)}


def is_throughput_seq(seq: int) -> bool:
    return seq < PICKUP_SEQ_BASE


def is_pickup_seq(seq: int) -> bool:
    return seq >= PICKUP_SEQ_BASE
