"""Concurrency on both backends: single claim under contention, one job per idempotency key."""

from __future__ import annotations

import asyncio
from collections import Counter

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import Completion, LeaseRequest, NewJob
from job_orchestrator.store import Store, open_store

JOBS = 2000
CLAIMERS = 20


async def test_twenty_claimers_lease_every_job_exactly_once(database_url: str) -> None:
    # Each claimer has its own store (its own pool and connections), like separate servers.
    stores = [open_store(database_url) for _ in range(4)]
    try:
        await stores[0].enqueue_many([NewJob(type="t", payload=i) for i in range(JOBS)])
        leased: Counter[int] = Counter()

        async def claimer(n: int) -> None:
            store = stores[n % len(stores)]
            while True:
                try:
                    leases = await store.lease(LeaseRequest(worker_id=f"w{n}", max_jobs=7))
                except StoreUnavailable:  # SQLite busy past its timeout under this load
                    continue
                if not leases:
                    return
                for lease in leases:
                    leased[lease.job_id] += 1
                await store.complete_many(
                    [Completion(lease.job_id, lease.lease_token, n) for lease in leases]
                )

        await asyncio.gather(*(claimer(n) for n in range(CLAIMERS)))
        assert len(leased) == JOBS
        assert set(leased.values()) == {1}
        counts = dict(((q, s), n) for q, s, n in await stores[0].counts_by_queue_state())
        assert counts == {("default", "succeeded"): JOBS}
    finally:
        for store in stores:
            await store.close()


async def test_concurrent_idempotent_enqueues_make_one_job(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(
                stores[i % 4].enqueue(NewJob(type="t", payload={"p": 1}, idempotency_key="once"))
                for i in range(40)
            )
        )
        assert len({r.job.id for r in results}) == 1
        assert sum(r.created for r in results) == 1
        counts = await stores[0].counts_by_queue_state()
        assert counts == [("default", "pending", 1)]
    finally:
        for store in stores:
            await store.close()


async def test_concurrent_completions_of_one_lease_store_one_result(store: Store) -> None:
    await store.enqueue(NewJob(type="t"))
    lease = (await store.lease(LeaseRequest(worker_id="w")))[0]
    outcomes = await asyncio.gather(
        *(
            store.complete_many([Completion(lease.job_id, lease.lease_token, {"try": i}, f"k{i}")])
            for i in range(10)
        )
    )
    flat = [o[0] for o in outcomes]
    winners = [o for o in flat if not isinstance(o, Exception)]
    assert len(winners) == 1
    stored = (await store.get_job(lease.job_id)).result
    assert stored == winners[0].result  # type: ignore[union-attr]
