"""What a running handler can ask about its job, through context variables.

``info()``, ``heartbeat()``, ``idempotency_key()`` and ``is_cancelled()`` work in ``async def``
handlers and in plain ``def`` handlers alike: the worker copies the context into the thread
that runs a sync handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from job_orchestrator.sdk.errors import HandlerCancelled


@dataclass(frozen=True, slots=True)
class JobInfo:
    job_id: str
    attempt: int
    queue: str
    type: str
    deadline: datetime | None  # the server's clock; the worker enforces it with its own timer
    timeout_seconds: float | None
    lease_seconds: float
    heartbeat_details: Any  # what the previous attempt last reported (resume from there)
    worker_id: str

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts (the job id): use it to make the handler's own side effects
        idempotent, e.g. as the key of a payment or an upsert."""
        return self.job_id


class JobContext:
    """One attempt's context. Thread-safe: a sync handler heartbeats from its own thread while
    the worker reads the details from the event loop."""

    def __init__(self, info: JobInfo, *, on_heartbeat: Callable[[Any], None] | None = None) -> None:
        self.info = info
        self._on_heartbeat = on_heartbeat
        self._lock = threading.Lock()
        self._details: Any = None
        self._details_version = 0
        self._cancel_reason: str | None = None

    @property
    def idempotency_key(self) -> str:
        return self.info.idempotency_key

    def heartbeat(self, details: Any = None) -> None:
        """Record progress; the worker sends the latest details with its next heartbeat.

        ``None`` keeps the details given before. Raises ``HandlerCancelled`` once the attempt
        must stop (cancelled, lease lost, deadline passed, worker shutting down), which is how
        a sync handler, whose thread cannot be interrupted, learns it should return.
        """
        if details is not None:
            with self._lock:
                self._details = details
                self._details_version += 1
        if self._on_heartbeat is not None:
            self._on_heartbeat(details)
        reason = self._cancel_reason
        if reason is not None:
            raise HandlerCancelled(reason)

    def snooze(self, seconds: float, details: Any = None) -> NoReturn:
        """Stop this attempt and run the job again in ``seconds`` (0 to 31,536,000): the worker
        snoozes it instead of completing or failing it, and the attempt is not counted.
        ``details`` (if given) become the next attempt's ``heartbeat_details``."""
        raise Snooze(seconds, details)

    def details(self) -> tuple[int, Any]:
        """The latest details and their version (0: none given in this attempt)."""
        with self._lock:
            return self._details_version, self._details

    def cancel(self, reason: str) -> None:
        if self._cancel_reason is None:
            self._cancel_reason = reason

    @property
    def cancel_reason(self) -> str | None:
        return self._cancel_reason

    @property
    def is_cancelled(self) -> bool:
        return self._cancel_reason is not None


_current: ContextVar[JobContext] = ContextVar("job_orchestrator_job_context")


def current() -> JobContext:
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "not inside a job handler run by a Worker or HandlerEnvironment"
        ) from None


def info() -> JobInfo:
    """The running job: id, attempt, queue, type, deadline, previous heartbeat details."""
    return current().info


def heartbeat(details: Any = None) -> None:
    """See ``JobContext.heartbeat``."""
    current().heartbeat(details)


def idempotency_key() -> str:
    """The running job's stable idempotency key (its id)."""
    return current().idempotency_key


def is_cancelled() -> bool:
    return current().is_cancelled


def run_with_context(context: JobContext, function: Callable[[Any], Any], payload: Any) -> Any:
    """Call a sync handler with ``context`` current (runs inside a copied ``Context``)."""
    token = _current.set(context)
    try:
        return function(payload)
    finally:
        _current.reset(token)


async def run_async_with_context(
    context: JobContext, function: Callable[[Any], Any], payload: Any
) -> Any:
    # Runs as its own task, so setting the variable here is private to this handler.
    _current.set(context)
    return await function(payload)


class Snooze(Exception):
    """Raise from a handler (or call ``snooze()``) to put the job back for ``seconds``: the
    worker calls POST /v1/jobs/{id}/snooze instead of complete or fail, and the attempt is not
    counted, so snoozing never leads to the DLQ."""

    def __init__(self, seconds: float, details: Any = None) -> None:
        if not 0 <= seconds <= MAX_SNOOZE_SECONDS:
            raise ValueError(f"snooze seconds must be 0 to {MAX_SNOOZE_SECONDS}, not {seconds}")
        super().__init__(f"snoozed for {seconds} s")
        self.seconds = float(seconds)
        self.details = details


MAX_SNOOZE_SECONDS = 31_536_000


def snooze(seconds: float, details: Any = None) -> NoReturn:
    """See ``JobContext.snooze``."""
    current().snooze(seconds, details)
