"""Wire models and error mapping, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from job_orchestrator.sdk import (
    AlreadyCompleted,
    APIError,
    IdempotencyConflict,
    InvalidRequest,
    Job,
    JobSpec,
    JobState,
    Lease,
    LeaseLost,
    NotFound,
    RetryPolicy,
    Unavailable,
)
from job_orchestrator.sdk.errors import (
    Conflict,
    ConnectionFailed,
    ServerError,
    error_from_response,
    is_transient,
)
from job_orchestrator.sdk.retry import Backoff

JOB = {
    "id": "42",
    "queue": "default",
    "type": "send_email",
    "payload": {"to": "a@example.com"},
    "state": "dlq",
    "priority": 3,
    "attempts": 5,
    "max_attempts": 5,
    "run_at": "2025-01-02T03:04:05.123456Z",
    "created_at": "2025-01-02T03:04:05Z",
    "updated_at": "2025-01-02T03:04:06Z",
    "finished_at": "2025-01-02T03:04:06Z",
    "lease_expires_at": None,
    "timeout_seconds": None,
    "lease_seconds": 30,
    "retry": {"initial_seconds": 1.0, "multiplier": 2.0, "max_seconds": 300.0, "jitter": True},
    "idempotency_key": None,
    "result": None,
    "last_error": {"message": "boom", "type": "ValueError"},
    "heartbeat_details": {"step": 2},
    "cancel_requested": False,
    "some_future_field": 1,  # fields added later are ignored
}


def test_job_from_wire() -> None:
    job = Job.from_dict(JOB)
    assert job.state is JobState.DLQ and job.state.terminal
    assert job.run_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.retry == RetryPolicy(1.0, 2.0, 300.0, True)
    assert job.heartbeat_details == {"step": 2}
    assert not JobState.LEASED.terminal


def test_lease_repr_hides_the_token() -> None:
    lease = Lease.from_dict(
        {
            "job_id": "7",
            "lease_token": "secret-token-value",
            "attempt": 1,
            "lease_expires_at": "2025-01-02T03:04:05Z",
            "deadline": None,
            "queue": "default",
            "type": "t",
            "payload": None,
            "heartbeat_details": None,
        }
    )
    assert "secret-token-value" not in repr(lease)
    assert lease.lease_seconds == 30.0  # an older server without the extension field


def test_job_spec_sends_only_given_options() -> None:
    assert JobSpec("t").to_dict() == {"type": "t", "payload": None}
    when = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    body = JobSpec(
        "t",
        {"x": 1},
        queue="q",
        priority=0,
        run_at=when,
        max_attempts=3,
        retry=RetryPolicy(0.5, 3.0, 10.0, False),
        lease_seconds=5,
        timeout_seconds=2,
        idempotency_key="k",
    ).to_dict()
    assert body == {
        "type": "t",
        "payload": {"x": 1},
        "queue": "q",
        "priority": 0,
        "run_at": "2030-01-01T10:00:00Z",
        "max_attempts": 3,
        "retry": {"initial_seconds": 0.5, "multiplier": 3.0, "max_seconds": 10.0, "jitter": False},
        "lease_seconds": 5,
        "timeout_seconds": 2,
        "idempotency_key": "k",
    }


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (409, "lease_lost", LeaseLost),
        (409, "already_completed", AlreadyCompleted),
        (409, "idempotency_conflict", IdempotencyConflict),
        (409, "something_new", Conflict),  # an unknown code still lands by status
        (404, "not_found", NotFound),
        (422, "invalid_request", InvalidRequest),
        (503, "unavailable", Unavailable),
        (500, "internal", ServerError),
    ],
)
def test_errors_map_to_typed_exceptions(status: int, code: str, expected: type[APIError]) -> None:
    body = {"error": {"code": code, "message": "m", "details": {"result": 1}}}
    error = error_from_response(status, body)
    assert type(error) is expected
    assert (error.code, error.status, error.message, error.details) == (
        code,
        status,
        "m",
        {"result": 1},
    )


def test_an_answer_without_an_envelope_still_maps() -> None:
    error = error_from_response(502, None)
    assert isinstance(error, ServerError) and error.status == 502
    assert is_transient(error)


def test_transient_errors() -> None:
    assert is_transient(ConnectionFailed("down"))
    assert is_transient(error_from_response(503, {"error": {"code": "unavailable"}}))
    assert not is_transient(error_from_response(409, {"error": {"code": "lease_lost"}}))


def test_backoff_grows_to_its_cap_with_jitter_in_the_upper_half() -> None:
    delays = Backoff(initial=0.1, multiplier=2, maximum=1.0).delays()
    values = [next(delays) for _ in range(8)]
    nominal = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(n / 2 <= v <= n for v, n in zip(values, nominal, strict=True))
    exact = Backoff(initial=0.1, multiplier=2, maximum=1.0, jitter=False).delays()
    assert [next(exact) for _ in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
