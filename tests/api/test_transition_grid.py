"""The state machine through the HTTP API: every (state, event) pair of ``domain/states.py``.

A job is put in each state through the API, then each event is driven (lease, complete, fail,
cancel, retry through the API; lease expiry through the reaper with a moved clock). The call must
succeed exactly when ``TRANSITIONS`` allows it, and move the job to the state it names; otherwise
it is a 409 (or, for a lease, the job is simply not handed out) and the job does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from job_orchestrator.domain.states import TRANSITIONS, Event, JobState, next_state
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.reaper import Reaper
from tests.api.helpers import assert_error, complete, enqueue, fail, get_job, lease, lease_one

QUEUE = "grid"


@dataclass
class Placed:
    job_id: str
    token: str  # the job's last lease token (a made-up one if it was never leased)


async def place(api: httpx.AsyncClient, state: JobState, *, max_attempts: int) -> Placed:
    """A job in ``state``, reached through the API only."""
    job = await enqueue(api, queue=QUEUE, max_attempts=max_attempts)
    job_id = job["id"]
    if state is JobState.PENDING:
        return Placed(job_id, "never-leased-token")
    got = await lease_one(api, queues=[QUEUE])
    assert got["job_id"] == job_id
    token = got["lease_token"]
    if state is JobState.SUCCEEDED:
        response = await complete(api, job_id, token, {"setup": True})
        assert response.status_code == 200, response.text
    elif state is JobState.DLQ:
        response = await fail(api, job_id, token, "setup", retryable=False)
        assert response.status_code == 200, response.text
    elif state is JobState.CANCELLED:
        response = await api.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 200, response.text
    placed = await get_job(api, job_id)
    assert placed["state"] == state.value
    return Placed(job_id, token)


# How each event is driven: (domain event, how, max_attempts the job is created with).
DRIVERS: dict[str, tuple[Event, int]] = {
    "lease": (Event.LEASE, 3),
    "complete": (Event.COMPLETE, 3),
    "fail_retryable": (Event.FAIL_RETRY, 3),
    "fail_non_retryable": (Event.FAIL_DEAD, 3),
    "fail_last_attempt": (Event.FAIL_DEAD, 1),
    "expire_with_attempts_left": (Event.FAIL_RETRY, 3),
    "expire_last_attempt": (Event.FAIL_DEAD, 1),
    "cancel": (Event.CANCEL, 3),
    "retry": (Event.RETRY, 3),
    "release": (Event.RELEASE, 3),
    "snooze": (Event.SNOOZE, 3),
}
CONFLICT_CODES = {
    "complete": ("lease_lost", "already_completed"),
    "fail_retryable": ("lease_lost",),
    "fail_non_retryable": ("lease_lost",),
    "fail_last_attempt": ("lease_lost",),
    "cancel": ("invalid_transition",),
    "retry": ("invalid_transition",),
    "release": ("lease_lost",),
    "snooze": ("lease_lost",),
}


def test_the_grid_covers_every_event_and_transition() -> None:
    assert {event for event, _ in DRIVERS.values()} == set(Event)
    allowed = {(s, e) for s in JobState for e, _ in DRIVERS.values() if next_state(s, e)}
    assert allowed == set(TRANSITIONS)


async def drive(
    name: str,
    api: httpx.AsyncClient,
    service: JobService,
    reaper: Reaper,
    placed: Placed,
) -> tuple[bool, httpx.Response | None]:
    """Drive one event; (did it take effect, the HTTP answer if it was a call on the job)."""
    job_id, token = placed.job_id, placed.token
    if name == "lease":
        leases = await lease(api, "grid-worker", queues=[QUEUE], max_jobs=10)
        assert all(x["job_id"] == job_id for x in leases), leases
        return bool(leases), None
    if name.startswith("expire"):
        now = await service.db_now()
        reaped = await reaper.run_once(now=now + timedelta(hours=1))
        assert reaped is not None, "this process must lead the reaper"
        return reaped.total == 1, None
    if name == "release":  # a batch call: the job's own answer is its item
        response = await api.post(
            "/v1/workers/release", json={"releases": [{"job_id": job_id, "lease_token": token}]}
        )
        assert response.status_code == 200, response.text
        item = response.json()["results"][0]
        if item["status"] != 200:
            assert item["status"] == 409 and item["error"]["code"] in CONFLICT_CODES[name], item
        return item["status"] == 200, None
    response: httpx.Response
    if name == "complete":
        response = await complete(api, job_id, token, {"grid": 1}, idempotency_key="grid")
    elif name == "fail_retryable" or name == "fail_last_attempt":
        response = await fail(api, job_id, token, "grid", retryable=True)
    elif name == "fail_non_retryable":
        response = await fail(api, job_id, token, "grid", retryable=False)
    elif name == "cancel":
        response = await api.post(f"/v1/jobs/{job_id}/cancel")
    elif name == "retry":
        response = await api.post(f"/v1/jobs/{job_id}/retry")
    elif name == "snooze":
        response = await api.post(
            f"/v1/jobs/{job_id}/snooze", json={"lease_token": token, "delay_seconds": 0}
        )
    else:  # pragma: no cover
        raise AssertionError(name)
    return response.status_code == 200, response


COMPARED = ("state", "attempts", "result", "run_at", "lease_expires_at", "finished_at")


@pytest.mark.parametrize("name", list(DRIVERS))
@pytest.mark.parametrize("state", list(JobState), ids=[s.value for s in JobState])
async def test_transition(
    api: httpx.AsyncClient,
    service: JobService,
    reaper: Reaper,
    state: JobState,
    name: str,
) -> None:
    event, max_attempts = DRIVERS[name]
    placed = await place(api, state, max_attempts=max_attempts)
    before = await get_job(api, placed.job_id)
    expected = next_state(state, event)

    took_effect, response = await drive(name, api, service, reaper, placed)
    after = await get_job(api, placed.job_id)

    if expected is None:
        assert not took_effect, (state, name, response.text if response else None)
        if response is not None:
            assert_error(response, 409, CONFLICT_CODES[name])
        unchanged: dict[str, Any] = {k: before[k] for k in (*COMPARED, "last_error")}
        assert {k: after[k] for k in (*COMPARED, "last_error")} == unchanged
    else:
        assert took_effect, (state, name, response.text if response else None)
        assert after["state"] == expected.value
        if response is not None:
            assert response.json()["state"] == expected.value
        if name == "lease":
            assert after["attempts"] == before["attempts"] + 1
        if name == "retry":
            assert after["attempts"] == 0
        if name == "snooze":  # the attempt is not counted
            assert after["attempts"] == before["attempts"] - 1
            assert after["lease_expires_at"] is None
        if name == "release":  # the attempt is given back, as if never leased
            assert after["attempts"] == before["attempts"] - 1
            assert after["lease_expires_at"] is None
