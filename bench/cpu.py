"""CPU accounting from /proc for the whole system under test.

The machine is shared (other engineers run tests on the same PostgreSQL), so we
do not sum every postgres process: we count the backends connected to the
system's own database (the process title names it), the cluster's shared
auxiliary processes (WAL writer, checkpointer, ...), the worker process trees we
started, and any extra pids a system names (redis-server for Celery).

A background thread samples cumulative utime+stime every `interval` seconds, so
that the CPU spent inside a window that is only known afterwards (first lease ..
last completion) can be read by interpolation.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Postgres auxiliary processes do work for every database (WAL, checkpoints);
# they are part of "the database" for any system that writes to it.
_PG_AUX = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum",
    "logical replication",
    "stats collector",
    "archiver",
)


# What each counted process is: our worker trees, the database, a broker, an API
# server (job-orchestrator's control plane, with its uvicorn worker processes).
PARTS = ("workers", "database", "broker", "server")
# Not part of the system: all busy CPU of the machine, to show competing load.
MACHINE = "machine"


def machine_busy_seconds() -> float:
    """Busy (non-idle, non-iowait) CPU seconds of the whole machine since boot."""
    raw = _read("/proc/stat") or "cpu 0 0 0 0"
    user, nice, system, _idle, _iowait, *rest = (int(x) for x in raw.split("\n")[0].split()[1:])
    return (user + nice + system + sum(rest[:3])) / CLK_TCK


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the comm (which may contain spaces)."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process, in clock ticks (children are tracked by pid)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the comm: state is index 0, so utime (field 14) is index 11.
    return int(fields[11]) + int(fields[12])


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def pg_process_wanted(cmdline: str, database: str) -> bool | None:
    """True for a backend of `database` or a shared auxiliary process.

    Titles look like `postgres: 15/main: postgres bench_x 127.0.0.1(5432) idle`
    or `postgres: 15/main: walwriter`. None while a new backend has not yet
    set its title (just forked): the caller must ask again later.
    """
    if not cmdline.startswith("postgres: "):
        # A just-forked backend still shows the postmaster's command line;
        # undecided until it sets its title (the postmaster itself stays so).
        argv0 = cmdline.split(" ", 1)[0]
        return None if os.path.basename(argv0) == "postgres" else False
    parts = cmdline.split(": ", 2)
    if len(parts) < 3:
        return None
    rest = parts[2]
    if rest.startswith(_PG_AUX):
        return True
    words = rest.split()
    if len(words) < 2:
        return None
    return words[1] == database


def descendants(roots: Iterable[int], pids: Iterable[int]) -> set[int]:
    """Roots plus every process whose ancestry reaches a root."""
    parents = {pid: parent_of(pid) for pid in pids}
    found = {r for r in roots if r in parents}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in found and ppid in found:
                found.add(pid)
                changed = True
    return found


@dataclass
class CpuSampler:
    """Samples the CPU of a changing set of processes in a background thread."""

    pg_database: str | None = None
    interval: float = 0.05
    roots: set[int] = field(default_factory=set)
    server_roots: set[int] = field(default_factory=set)
    extra_pids: set[int] = field(default_factory=set)
    _last: dict[int, int] = field(default_factory=dict)
    _times: list[float] = field(default_factory=list)
    _part: dict[int, str] = field(default_factory=dict)
    _totals: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _pg_cache: dict[int, bool] = field(default_factory=dict)

    def add_roots(self, pids: Iterable[int]) -> None:
        with self._lock:
            self.roots.update(pids)

    def add_server_roots(self, pids: Iterable[int]) -> None:
        """Process trees counted as the "server" part (an API server and its children)."""
        with self._lock:
            self.server_roots.update(pids)

    def start(self) -> None:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def _tracked(self) -> dict[int, str]:
        """Every process to count now, with its part of the system."""
        pids = all_pids()
        tracked: dict[int, str] = {}
        if self.pg_database:
            tracked.update((p, "database") for p in pids if self._is_pg(p))
        with self._lock:
            tracked.update((p, "broker") for p in self.extra_pids & set(pids))
            tracked.update((p, "workers") for p in descendants(self.roots, pids))
            tracked.update((p, "server") for p in descendants(self.server_roots, pids))
        return tracked

    def _is_pg(self, pid: int) -> bool:
        # A backend's database never changes, so a definite answer is cached
        # per pid (a recycled pid could be misclassified: negligible in a run).
        # A backend still starting up has no title yet: not cached, asked again.
        if pid not in self._pg_cache:
            cmd = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
            wanted = pg_process_wanted(cmd, self.pg_database or "")
            if wanted is None:
                return False
            self._pg_cache[pid] = wanted
        return self._pg_cache[pid]

    def sample(self) -> None:
        """Record, per part, the sum of the latest ticks of every process seen so far.

        A process that exits keeps its last reading, so totals never go down;
        its CPU since the previous sample is lost (at most `interval`).
        """
        now = time.time()
        for pid, part in self._tracked().items():
            ticks = cpu_ticks(pid)
            if ticks is not None:
                self._part[pid] = part
                self._last[pid] = max(ticks, self._last.get(pid, 0))
        totals: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        for pid, ticks in self._last.items():
            totals[self._part[pid]] += ticks / CLK_TCK
        totals[MACHINE] = machine_busy_seconds()
        with self._lock:
            self._times.append(now)
            self._totals.append(totals)

    def total_at(self, t: float, part: str | None = None) -> float:
        """Cumulative CPU seconds at time t (of one part, or all), interpolated."""
        with self._lock:
            times = list(self._times)
            totals = [sum(v[p] for p in PARTS) if part is None else v[part] for v in self._totals]
        if not times:
            return 0.0
        i = bisect.bisect_left(times, t)
        if i == 0:
            return totals[0]
        if i >= len(times):
            return totals[-1]
        t0, t1 = times[i - 1], times[i]
        frac = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return totals[i - 1] + frac * (totals[i] - totals[i - 1])

    def cpu_between(self, start: float, end: float, part: str | None = None) -> float:
        return max(0.0, self.total_at(end, part) - self.total_at(start, part))

    def parts_between(self, start: float, end: float) -> dict[str, float]:
        return {part: round(self.cpu_between(start, end, part), 3) for part in PARTS}
