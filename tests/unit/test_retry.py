from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from job_orchestrator.domain.retry import (
    RetryPolicy,
    backoff_ceiling,
    backoff_seconds,
    decide_after_failure,
    expiry_outcome,
)
from job_orchestrator.domain.states import AttemptOutcome, Event, JobState


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_follows_the_contract_formula() -> None:
    policy = RetryPolicy(initial_seconds=1.0, multiplier=2.0, max_seconds=10.0, jitter=False)
    assert [backoff_ceiling(policy, n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    policy = RetryPolicy(initial_seconds=3.0, multiplier=2.0, max_seconds=100.0, jitter=True)
    assert backoff_seconds(policy, 2, FixedRandom(0.0)) == 0.0
    assert backoff_seconds(policy, 2, FixedRandom(0.5)) == 3.0
    assert backoff_seconds(policy, 2, FixedRandom(0.999)) == pytest.approx(5.994)


def test_no_jitter_is_exact() -> None:
    policy = RetryPolicy(initial_seconds=0.5, multiplier=3.0, max_seconds=100.0, jitter=False)
    assert backoff_seconds(policy, 3, FixedRandom(0.1)) == 4.5


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(initial_seconds=1.0, multiplier=100.0, max_seconds=60.0, jitter=False)
    assert backoff_ceiling(policy, 10_000) == 60.0


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    initial=st.floats(min_value=0.001, max_value=1000),
    multiplier=st.floats(min_value=1, max_value=100),
    maximum=st.floats(min_value=0.001, max_value=100_000),
)
def test_backoff_is_bounded(
    attempt: int, initial: float, multiplier: float, maximum: float
) -> None:
    policy = RetryPolicy(initial, multiplier, maximum, jitter=True)
    delay = backoff_seconds(policy, attempt, random.Random(attempt))
    assert 0.0 <= delay <= maximum


def test_retry_while_attempts_remain() -> None:
    decision = decide_after_failure(
        attempts=2, max_attempts=3, retryable=True, policy=RetryPolicy(jitter=False)
    )
    assert decision.event is Event.FAIL_RETRY
    assert decision.next_state is JobState.PENDING
    assert decision.delay_seconds == 2.0


def test_dead_letter_when_exhausted() -> None:
    decision = decide_after_failure(
        attempts=3, max_attempts=3, retryable=True, policy=RetryPolicy()
    )
    assert (decision.event, decision.next_state, decision.delay_seconds) == (
        Event.FAIL_DEAD,
        JobState.DLQ,
        None,
    )


def test_non_retryable_goes_straight_to_dlq() -> None:
    decision = decide_after_failure(
        attempts=1, max_attempts=10, retryable=False, policy=RetryPolicy()
    )
    assert decision.next_state is JobState.DLQ


def test_retry_after_overrides_backoff_but_not_the_budget() -> None:
    policy = RetryPolicy(initial_seconds=100, jitter=False)
    now = decide_after_failure(
        attempts=1, max_attempts=2, retryable=True, policy=policy, retry_after_seconds=0.0
    )
    assert now.delay_seconds == 0.0
    dead = decide_after_failure(
        attempts=2, max_attempts=2, retryable=True, policy=policy, retry_after_seconds=0.0
    )
    assert dead.next_state is JobState.DLQ


def test_timeout_wins_over_lease_expiry() -> None:
    assert expiry_outcome(deadline_passed=True) is AttemptOutcome.TIMED_OUT
    assert expiry_outcome(deadline_passed=False) is AttemptOutcome.LEASE_EXPIRED
