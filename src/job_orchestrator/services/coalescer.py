"""Single enqueues that arrive together share one INSERT.

Twenty producers calling ``POST /v1/jobs`` at once used to cost twenty INSERT statements,
twenty commits (each a WAL flush) and twenty pool checkouts. Here a request that finds an
INSERT already in flight waits for it to return and then goes out with every other request
that arrived meanwhile, in one statement. Nothing is delayed on purpose: an idle server
sends a lone request at once, so pickup latency is untouched; under load the batches grow
by themselves (natural batching, as in group commit).

Only jobs without an idempotency key come here: those need the key lookup and its retry
loop, which stay on the direct path. A shared INSERT is all or nothing, as each request's
own INSERT was; an error (the database is down) reaches every request in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from job_orchestrator.domain.models import EnqueueResult, NewJob

InsertMany = Callable[[Sequence[NewJob]], Awaitable[list[EnqueueResult]]]

#: The batch endpoint's limit; a shared INSERT never carries more.
MAX_SHARED_INSERT = 1000


class EnqueueCoalescer:
    def __init__(self, insert_many: InsertMany, *, max_batch: int = MAX_SHARED_INSERT) -> None:
        self._insert_many = insert_many
        self._max_batch = max_batch
        self._waiting: list[tuple[NewJob, asyncio.Future[EnqueueResult]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def enqueue(self, job: NewJob) -> EnqueueResult:
        future: asyncio.Future[EnqueueResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_waiting(), name="enqueue-coalescer")
        return await future

    async def _drain_waiting(self) -> None:
        try:
            while self._waiting:
                taken = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                # A request whose client went away before its turn is not inserted at all.
                taken = [(job, future) for job, future in taken if not future.cancelled()]
                if taken:
                    await self._insert(taken)
        except asyncio.CancelledError:
            # The server is stopping: nobody may wait for an INSERT that will not come.
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._drain = None

    async def _insert(self, taken: list[tuple[NewJob, asyncio.Future[EnqueueResult]]]) -> None:
        try:
            results = await self._insert_many([job for job, _ in taken])
        except asyncio.CancelledError:
            for _, future in taken:
                future.cancel()
            raise
        except Exception as error:
            for _, future in taken:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(taken, results, strict=True):
            if not future.done():
                future.set_result(result)
