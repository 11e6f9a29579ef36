"""Stale or forged lease tokens never change anything, over many random trials."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from job_orchestrator.domain.errors import LeaseLost
from job_orchestrator.domain.models import Completion, FailureInfo, LeaseRequest, NewJob
from job_orchestrator.store import Store

tokens = st.one_of(
    st.text(min_size=1, max_size=80),
    st.binary(min_size=16, max_size=48).map(lambda b: b.hex()),
    st.just("").map(lambda _: secrets.token_urlsafe(32)),  # right shape, wrong value
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(token=tokens, call=st.sampled_from(["heartbeat", "complete", "fail"]))
async def test_forged_tokens_change_nothing(store: Store, token: str, call: str) -> None:
    job = (await store.enqueue(NewJob(type="t", queue=f"q{secrets.token_hex(4)}"))).job
    lease = (await store.lease(LeaseRequest(worker_id="w", queues=(job.queue,))))[0]
    if token == lease.lease_token:
        return
    before = await store.get_job(job.id)
    attempts_before = await store.list_attempts(job.id)
    try:
        if call == "heartbeat":
            await store.heartbeat(job.id, token, details={"x": 1}, set_details=True)
        elif call == "complete":
            await store.complete(Completion(job.id, token, {"stolen": True}))
        else:
            await store.fail(job.id, token, FailureInfo("forged", retryable=False))
    except LeaseLost:
        pass
    else:
        raise AssertionError(f"{call} with a forged token was accepted")
    assert await store.get_job(job.id) == before
    assert await store.list_attempts(job.id) == attempts_before


async def test_the_previous_attempts_token_is_stale(store: Store) -> None:
    job = (await store.enqueue(NewJob(type="t", max_attempts=5))).job
    first = (await store.lease(LeaseRequest(worker_id="w")))[0]
    await store.fail(job.id, first.lease_token, FailureInfo("x", retry_after_seconds=0))
    second = (await store.lease(LeaseRequest(worker_id="w")))[0]
    assert second.attempt == 2
    for attempt in range(20):
        try:
            await store.complete(Completion(job.id, first.lease_token, attempt))
        except LeaseLost:
            continue
        raise AssertionError("the first attempt's token completed the job")
    assert (await store.get_job(job.id)).state.value == "leased"
