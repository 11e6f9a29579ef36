"""Batching completions: one POST /v1/workers/complete for many finished jobs.

A completion waits at most ``window`` seconds (default 2 ms) for others to join it, or goes as
soon as ``max_batch`` are waiting. At high throughput this turns hundreds of requests (and
database transactions) into one; at low throughput it adds at most the window.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._delivery import deliver
from job_orchestrator.sdk._http import NO_BODY, AsyncTransport
from job_orchestrator.sdk.errors import APIError

Item = dict[str, Any]  # {"job_id", "lease_token", "result", "idempotency_key", "details"?}
ItemResult = dict[str, Any]  # {"job_id", "status", "job"?, "error"?}


class CompletionBatcher:
    def __init__(
        self,
        transport: AsyncTransport,
        *,
        log: logging.Logger,
        aborted: Callable[[], bool],
        max_batch: int = 100,
        window: float = 0.002,
    ) -> None:
        self._transport = transport
        self._log = log
        self._aborted = aborted
        self._max_batch = max(1, min(max_batch, _api.MAX_BATCH))
        self._window = window
        self._pending: list[tuple[Item, asyncio.Future[ItemResult]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._batch_supported = True

    def submit(self, item: Item) -> asyncio.Future[ItemResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ItemResult] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        return future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Item, asyncio.Future[ItemResult]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await self._complete(items)
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _complete(self, items: list[Item]) -> list[ItemResult]:
        if self._batch_supported:
            try:
                return await deliver(
                    self._transport,
                    _api.complete_batch(items),
                    log=self._log,
                    what=f"completing {len(items)} jobs",
                    aborted=self._aborted,
                )
            except APIError as error:
                # The batch call answers per item, never 404/405 itself: those mean a server
                # without the batch extension. Complete one by one from now on.
                if error.status not in (404, 405):
                    raise
                self._log.info("the server has no batch completion; completing one by one")
                self._batch_supported = False
        return list(await asyncio.gather(*(self._complete_one(item) for item in items)))

    async def _complete_one(self, item: Item) -> ItemResult:
        call = _api.complete(
            item["job_id"],
            item["lease_token"],
            item["result"],
            item["idempotency_key"],
            item.get("details", NO_BODY),
        )
        try:
            job = await deliver(
                self._transport,
                call,
                log=self._log,
                what=f"completing job {item['job_id']}",
                aborted=self._aborted,
            )
        except APIError as error:
            envelope = {"code": error.code, "message": error.message, "details": error.details}
            return {"job_id": item["job_id"], "status": error.status, "error": envelope}
        return {"job_id": item["job_id"], "status": 200, "job": job}

    async def drain(self) -> None:
        """Send what waits and wait for every batch in flight."""
        self._flush()
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
