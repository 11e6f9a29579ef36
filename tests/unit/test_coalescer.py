"""The enqueue coalescer, against a scripted insert function (no database)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from job_orchestrator.domain.models import EnqueueResult, Job, NewJob
from job_orchestrator.services.coalescer import EnqueueCoalescer

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def created(job: NewJob, job_id: int) -> EnqueueResult:
    return EnqueueResult(Job.enqueued(job, id=job_id, run_at=NOW, created_at=NOW), created=True)


class ScriptedInsert:
    """Records each INSERT's jobs; each call blocks until the test releases it."""

    def __init__(self, *, block: bool = True) -> None:
        self.calls: list[list[object]] = []
        self.gates: list[asyncio.Event] = []
        self.block = block
        self.fail_next: Exception | None = None
        self._next_id = 0

    async def __call__(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        self.calls.append([job.payload for job in jobs])
        gate = asyncio.Event()
        self.gates.append(gate)
        if self.block:
            await gate.wait()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        results = []
        for job in jobs:
            self._next_id += 1
            results.append(created(job, self._next_id))
        return results


def new_job(n: int) -> NewJob:
    return NewJob(type="t", payload=n)


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_a_lone_enqueue_goes_out_at_once_by_itself() -> None:
    insert = ScriptedInsert(block=False)
    coalescer = EnqueueCoalescer(insert)
    result = await coalescer.enqueue(new_job(1))
    assert insert.calls == [[1]]
    assert result.job.payload == 1 and result.created


async def test_enqueues_arriving_during_an_insert_share_the_next_one_in_arrival_order() -> None:
    insert = ScriptedInsert()
    coalescer = EnqueueCoalescer(insert)
    first = asyncio.create_task(coalescer.enqueue(new_job(0)))
    await until(lambda: len(insert.calls) == 1)
    rest = [asyncio.create_task(coalescer.enqueue(new_job(n))) for n in range(1, 6)]
    await asyncio.sleep(0)
    assert len(insert.calls) == 1  # nothing else goes out while the first INSERT is in flight
    insert.gates[0].set()
    await until(lambda: len(insert.calls) == 2)
    assert insert.calls[1] == [1, 2, 3, 4, 5]
    insert.gates[1].set()
    results = [await first, *[await task for task in rest]]
    # Each request gets its own job back, ids in arrival order.
    assert [r.job.payload for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r.job.id for r in results] == [1, 2, 3, 4, 5, 6]


async def test_a_shared_insert_never_exceeds_the_batch_limit() -> None:
    insert = ScriptedInsert(block=False)
    coalescer = EnqueueCoalescer(insert, max_batch=3)
    results = await asyncio.gather(*(coalescer.enqueue(new_job(n)) for n in range(7)))
    assert [len(call) for call in insert.calls] == [3, 3, 1]
    assert [r.job.payload for r in results] == list(range(7))


async def test_an_insert_error_reaches_every_request_in_it_and_the_next_ones_still_work() -> None:
    insert = ScriptedInsert()
    coalescer = EnqueueCoalescer(insert)
    first = asyncio.create_task(coalescer.enqueue(new_job(0)))
    await until(lambda: len(insert.calls) == 1)
    insert.fail_next = ConnectionError("database went away")
    insert.gates[0].set()
    with pytest.raises(ConnectionError):
        await first
    insert.block = False
    result = await coalescer.enqueue(new_job(1))
    assert result.job.payload == 1
    assert insert.calls == [[0], [1]]


async def test_a_request_cancelled_before_its_turn_is_not_inserted() -> None:
    insert = ScriptedInsert()
    coalescer = EnqueueCoalescer(insert)
    first = asyncio.create_task(coalescer.enqueue(new_job(0)))
    await until(lambda: len(insert.calls) == 1)
    gone = asyncio.create_task(coalescer.enqueue(new_job(1)))
    kept = asyncio.create_task(coalescer.enqueue(new_job(2)))
    await asyncio.sleep(0)
    gone.cancel()
    insert.gates[0].set()
    await until(lambda: len(insert.calls) == 2)
    insert.gates[1].set()
    await first
    assert (await kept).job.payload == 2
    assert insert.calls == [[0], [2]]
    assert gone.cancelled()


async def test_stopping_the_drain_cancels_every_waiting_request() -> None:
    insert = ScriptedInsert()
    coalescer = EnqueueCoalescer(insert)
    in_flight = asyncio.create_task(coalescer.enqueue(new_job(0)))
    await until(lambda: len(insert.calls) == 1)
    waiting = asyncio.create_task(coalescer.enqueue(new_job(1)))
    await asyncio.sleep(0)
    drain = coalescer._drain
    assert drain is not None
    drain.cancel()
    for task in (in_flight, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    # A later request starts a fresh drain.
    insert.block = False
    assert (await coalescer.enqueue(new_job(2))).job.payload == 2
