"""Retry, backoff and dead-letter decisions as pure functions."""

from __future__ import annotations

import random
from typing import Protocol

from job_orchestrator.domain.states import AttemptOutcome, Event, JobState
from job_orchestrator.domain.value import value_object


@value_object
class RetryPolicy:
    initial_seconds: float = 1.0
    multiplier: float = 2.0
    max_seconds: float = 300.0
    jitter: bool = True


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff_ceiling(policy: RetryPolicy, attempt: int) -> float:
    """Delay before attempt ``attempt + 1`` without jitter: min(max, initial * multiplier^(n-1))."""
    exponent = max(attempt - 1, 0)
    # Cap the exponent so a large attempt count cannot overflow a float.
    try:
        raw = policy.initial_seconds * (policy.multiplier**exponent)
    except OverflowError:
        return policy.max_seconds
    return min(policy.max_seconds, raw)


def backoff_seconds(policy: RetryPolicy, attempt: int, rng: RandomSource = random) -> float:
    """Backoff before the next attempt; full jitter draws uniformly from [0, ceiling]."""
    ceiling = backoff_ceiling(policy, attempt)
    return rng.random() * ceiling if policy.jitter else ceiling


@value_object
class FailureDecision:
    event: Event
    next_state: JobState
    delay_seconds: float | None  # None when dead-lettered


def decide_after_failure(
    *,
    attempts: int,
    max_attempts: int,
    retryable: bool,
    policy: RetryPolicy,
    retry_after_seconds: float | None = None,
    rng: RandomSource = random,
) -> FailureDecision:
    """What happens to a job whose current attempt (number ``attempts``) failed.

    ``retry_after_seconds`` overrides the backoff (a worker interrupted by a graceful shutdown
    asks for 0: the job did not fail, it was handed back).
    """
    if not retryable or attempts >= max_attempts:
        return FailureDecision(Event.FAIL_DEAD, JobState.DLQ, None)
    if retry_after_seconds is not None:
        delay = retry_after_seconds
    else:
        delay = backoff_seconds(policy, attempts, rng)
    return FailureDecision(Event.FAIL_RETRY, JobState.PENDING, delay)


def expiry_outcome(*, deadline_passed: bool) -> AttemptOutcome:
    """The outcome recorded for an attempt the reaper ends: the execution timeout wins."""
    return AttemptOutcome.TIMED_OUT if deadline_passed else AttemptOutcome.LEASE_EXPIRED
