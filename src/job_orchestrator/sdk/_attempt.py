"""One running attempt: its lease, context, local deadline and where it stands."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum
from typing import Any

from job_orchestrator.sdk._logging import AttemptLog
from job_orchestrator.sdk.context import JobContext
from job_orchestrator.sdk.models import Lease


class Phase(Enum):
    WAITING = "waiting"  # leased ahead (prefetch), waiting for a free slot; heartbeats are sent
    RUNNING = "running"  # the handler runs; heartbeats are sent
    REPORTING = "reporting"  # the handler returned; complete/fail is on its way
    DONE = "done"


class StopReason:
    CANCELLED = "cancelled"  # the server said cancel_requested
    LEASE_LOST = "lease_lost"  # the lease is no longer ours: someone else may run the job
    DEADLINE = "deadline"  # the job's timeout_seconds ran out
    SHUTDOWN = "shutdown"  # the worker stopped before the handler finished


@dataclass(frozen=True, slots=True)
class Success:
    result: Any


@dataclass(frozen=True, slots=True)
class Failure:
    error: dict[str, Any]  # the contract's {"message", "type", "retryable", ...}
    exception: BaseException | None = None  # what the handler raised (for its traceback)
    timed_out: bool = False  # stopped at its deadline: the server may have ended it already


@dataclass(frozen=True, slots=True)
class Stopped:
    reason: str


@dataclass(frozen=True, slots=True)
class Snoozed:
    seconds: float
    details: Any  # None: keep the details reported so far


Outcome = Success | Failure | Stopped | Snoozed

MIN_HEARTBEAT_INTERVAL = 0.05


class RunningAttempt:
    def __init__(
        self,
        lease: Lease,
        context: JobContext,
        log: AttemptLog,
        *,
        received_at: float,
        heartbeat_fraction: float,
    ) -> None:
        self.lease = lease
        self.context = context
        self.log = log
        self.key = (lease.job_id, lease.attempt)
        self.phase = Phase.RUNNING
        self.stop_reason: str | None = None
        self.finalized = False  # the server was told (or needs no telling) by someone else
        self.task: asyncio.Task[Any] | None = None  # an async handler's task
        self.runner: asyncio.Task[None] | None = None  # the task running the whole attempt
        self.interval = max(lease.lease_seconds * heartbeat_fraction, MIN_HEARTBEAT_INTERVAL)
        self.next_beat = received_at + self.interval
        self.sent_details_version = 0
        self.started_at: float | None = None  # when the handler began (loop clock)
        # Measured from when the lease arrived, on this machine's monotonic clock: the
        # server's deadline is on the database clock, which ours may not agree with.
        timeout = lease.timeout_seconds
        self.local_deadline = None if timeout is None else received_at + float(timeout)
        # A prefetched attempt with a timeout: when it is handed back if it has not started.
        self.hand_back: asyncio.TimerHandle | None = None

    def remaining(self, now: float) -> float | None:
        return None if self.local_deadline is None else max(self.local_deadline - now, 0.0)

    def stop(self, reason: str) -> None:
        """Ask the handler to stop: cancel an async handler; a sync one sees it on heartbeat."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.context.cancel(reason)
        if self.task is not None and not self.task.done():
            self.task.cancel()
