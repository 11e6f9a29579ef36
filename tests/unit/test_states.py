from __future__ import annotations

import pytest

from job_orchestrator.domain.states import (
    TERMINAL_STATES,
    TRANSITIONS,
    Event,
    JobState,
    next_state,
    sources_of,
)

# The contract's diagram, written out by hand: the table must match it exactly.
CONTRACT = {
    ("pending", "lease"): "leased",
    ("leased", "complete"): "succeeded",
    ("leased", "fail_retry"): "pending",
    ("leased", "fail_dead"): "dlq",
    ("pending", "cancel"): "cancelled",
    ("leased", "cancel"): "cancelled",
    ("dlq", "retry"): "pending",
    ("cancelled", "retry"): "pending",
    # Extension: a worker hands back a lease it never started (POST /v1/workers/release).
    ("leased", "release"): "pending",
    # v1.1: the holder snoozes its job (POST /v1/jobs/{id}/snooze), the attempt not counted.
    ("leased", "snooze"): "pending",
}


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("event", list(Event))
def test_every_pair_matches_the_contract(state: JobState, event: Event) -> None:
    expected = CONTRACT.get((state.value, event.value))
    actual = next_state(state, event)
    assert (actual.value if actual else None) == expected


def test_terminal_states_only_leave_by_retry() -> None:
    for (state, event), _ in TRANSITIONS.items():
        if state in TERMINAL_STATES:
            assert event is Event.RETRY
    assert JobState.SUCCEEDED not in sources_of(Event.RETRY)


def test_sources_of() -> None:
    assert sources_of(Event.CANCEL) == (JobState.PENDING, JobState.LEASED)
    assert sources_of(Event.LEASE) == (JobState.PENDING,)
