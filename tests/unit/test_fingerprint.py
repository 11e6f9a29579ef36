"""The idempotency fingerprint: equal requests agree, any difference shows, old keys still match."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from job_orchestrator import jsoncodec
from job_orchestrator.api.schemas import EnqueueRequest
from job_orchestrator.domain.fingerprint import fingerprint
from job_orchestrator.domain.models import NewJob
from job_orchestrator.domain.retry import RetryPolicy

BASE = NewJob(
    type="email",
    payload={"to": "a@example.com", "n": [1, 2]},
    queue="mail",
    priority=3,
    run_at=datetime(2030, 1, 1, tzinfo=UTC),
    max_attempts=4,
    retry=RetryPolicy(2.0, 3.0, 60.0, False),
    lease_seconds=20.0,
    timeout_seconds=90.0,
    idempotency_key="k-1",
)

CHANGES: dict[str, Any] = {
    "type": "sms",
    "payload": {"to": "b@example.com", "n": [1, 2]},
    "queue": "other",
    "priority": 4,
    "run_at": datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC),
    "delay_seconds": 5.0,
    "max_attempts": 5,
    "retry": RetryPolicy(2.0, 3.0, 60.0, True),
    "lease_seconds": 21.0,
    "timeout_seconds": None,
    "idempotency_key": "k-2",
}


def test_the_same_job_has_the_same_fingerprint() -> None:
    copy = replace(BASE, payload={"n": [1, 2], "to": "a@example.com"})  # key order is no change
    assert fingerprint(copy) == fingerprint(BASE)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_any_field_change_changes_the_fingerprint(field: str) -> None:
    assert fingerprint(replace(BASE, **{field: CHANGES[field]})) != fingerprint(BASE)


@pytest.mark.parametrize("policy_field", ["initial_seconds", "multiplier", "max_seconds"])
def test_each_retry_setting_counts(policy_field: str) -> None:
    retry = replace(BASE.retry, **{policy_field: getattr(BASE.retry, policy_field) + 1})
    assert fingerprint(replace(BASE, retry=retry)) != fingerprint(BASE)


def test_the_owner_is_not_part_of_the_request() -> None:
    assert fingerprint(replace(BASE, owner="key-a")) == fingerprint(replace(BASE, owner="key-b"))


@pytest.mark.parametrize(
    "run_at",
    [
        None,
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00.5+02:00",
        "2030-06-01T10:20:30.000100-05:30",
    ],
)
def test_keys_stored_by_earlier_versions_still_match(run_at: str | None) -> None:
    """Earlier versions hashed the request's pydantic JSON dump; this must stay that value."""
    wire: dict[str, Any] = {
        "type": "email",
        "payload": {"to": "a@example.com", "big": 10**30},
        "queue": "mail",
        "lease_seconds": 20,
        "retry": {"jitter": False},
        "idempotency_key": "k-1",
        "run_at": run_at,
    }
    body = EnqueueRequest.model_validate(wire)
    before = hashlib.sha256(jsoncodec.canonical(body.model_dump(mode="json"))).hexdigest()
    job = NewJob(
        type=body.type,
        payload=body.payload,
        queue=body.queue,
        priority=body.priority,
        run_at=body.run_at,
        delay_seconds=body.delay_seconds,
        max_attempts=body.max_attempts,
        retry=RetryPolicy(
            body.retry.initial_seconds,
            body.retry.multiplier,
            body.retry.max_seconds,
            body.retry.jitter,
        ),
        lease_seconds=body.lease_seconds,
        timeout_seconds=body.timeout_seconds,
        idempotency_key=body.idempotency_key,
    )
    assert fingerprint(job) == before
