"""The job state machine: every allowed transition lives in one table.

The store enforces these transitions with guarded SQL (``WHERE state = ...``); this table is the
single description of what the guards must allow, and the transition-grid test checks that the
HTTP API and the store agree with it.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "pending"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    DLQ = "dlq"
    CANCELLED = "cancelled"


class Event(StrEnum):
    LEASE = "lease"
    COMPLETE = "complete"
    FAIL_RETRY = "fail_retry"  # fail, lease expiry or timeout with attempts left
    FAIL_DEAD = "fail_dead"  # fail, lease expiry or timeout, exhausted or non-retryable
    CANCEL = "cancel"
    RETRY = "retry"  # redrive from dlq or cancelled
    RELEASE = "release"  # a worker hands back a lease it never started (prefetch, shutdown)
    SNOOZE = "snooze"  # the holder puts its job back to pending for later; not an attempt


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LEASE_EXPIRED = "lease_expired"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SNOOZED = "snoozed"  # the holder snoozed the job: the attempt is not counted


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.DLQ, JobState.CANCELLED}
)

TRANSITIONS: dict[tuple[JobState, Event], JobState] = {
    (JobState.PENDING, Event.LEASE): JobState.LEASED,
    (JobState.LEASED, Event.COMPLETE): JobState.SUCCEEDED,
    (JobState.LEASED, Event.FAIL_RETRY): JobState.PENDING,
    (JobState.LEASED, Event.FAIL_DEAD): JobState.DLQ,
    (JobState.LEASED, Event.RELEASE): JobState.PENDING,
    (JobState.LEASED, Event.SNOOZE): JobState.PENDING,
    (JobState.PENDING, Event.CANCEL): JobState.CANCELLED,
    (JobState.LEASED, Event.CANCEL): JobState.CANCELLED,
    (JobState.DLQ, Event.RETRY): JobState.PENDING,
    (JobState.CANCELLED, Event.RETRY): JobState.PENDING,
}


def next_state(state: JobState, event: Event) -> JobState | None:
    """The state ``event`` moves a job in ``state`` to, or None when it is not allowed."""
    return TRANSITIONS.get((state, event))


def sources_of(event: Event) -> tuple[JobState, ...]:
    """The states from which ``event`` is allowed, in enum order (used to build SQL guards)."""
    return tuple(s for s in JobState if (s, event) in TRANSITIONS)
