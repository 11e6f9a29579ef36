"""Heartbeats for every running attempt of a worker, batched into one request per tick.

Each attempt beats every ``lease_seconds * fraction``; attempts due within a quarter interval
of each other share a request. A beat carries the handler's latest details when they changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._attempt import Phase, RunningAttempt, StopReason
from job_orchestrator.sdk._delivery import run_call
from job_orchestrator.sdk._http import AsyncTransport
from job_orchestrator.sdk.errors import APIError, LeaseLost, NotFound, OrchestratorError

RETRY_SOON = 1.0  # after a failed beat, try again within this many seconds


class Heartbeats:
    def __init__(self, transport: AsyncTransport, *, log: logging.Logger) -> None:
        self._transport = transport
        self._log = log
        self._attempts: dict[tuple[str, int], RunningAttempt] = {}
        self._wake = asyncio.Event()
        self._batch_supported = True
        self._failures = 0

    def add(self, attempt: RunningAttempt) -> None:
        self._attempts[attempt.key] = attempt
        self._wake.set()  # its first beat may be due before the loop's next wake-up

    def remove(self, attempt: RunningAttempt) -> None:
        self._attempts.pop(attempt.key, None)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            due = [a for a in self._attempts.values() if a.next_beat - now <= a.interval / 4]
            if due:
                await self._beat(due, now)
                continue
            self._wake.clear()
            upcoming = min((a.next_beat for a in self._attempts.values()), default=None)
            timeout = None if upcoming is None else max(upcoming - now, 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _beat(self, due: list[RunningAttempt], now: float) -> None:
        items: list[dict[str, Any]] = []
        versions: list[int] = []
        for attempt in due:
            attempt.next_beat = now + attempt.interval
            item: dict[str, Any] = {
                "job_id": attempt.lease.job_id,
                "lease_token": attempt.lease.lease_token,
            }
            version, details = attempt.context.details()
            if version > attempt.sent_details_version:
                item["details"] = details
            items.append(item)
            versions.append(version)
        try:
            results = await self._send(items)
        except OrchestratorError as error:
            self._failures += 1
            if self._failures == 1 or self._failures % 10 == 0:
                self._log.warning("heartbeat for %d jobs failed: %s", len(items), error)
            for attempt in due:
                attempt.next_beat = min(attempt.next_beat, now + RETRY_SOON)
            return
        self._failures = 0
        for attempt, version, result in zip(due, versions, results, strict=True):
            apply_result(attempt, version, result)

    async def _send(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._batch_supported:
            try:
                return await run_call(self._transport, _api.heartbeat_batch(items))
            except APIError as error:
                if error.status not in (404, 405):
                    raise
                self._log.info("the server has no batch heartbeat; heartbeating one by one")
                self._batch_supported = False
        return list(await asyncio.gather(*(self._send_one(item) for item in items)))

    async def _send_one(self, item: dict[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in item.items() if k != "job_id"}
        try:
            answer = await run_call(self._transport, _api.heartbeat(item["job_id"], body))
        except (LeaseLost, NotFound) as error:
            envelope = {"code": error.code, "message": error.message}
            return {"job_id": item["job_id"], "status": error.status, "error": envelope}
        return {"job_id": item["job_id"], "status": 200, **answer}


def apply_result(attempt: RunningAttempt, version: int, result: dict[str, Any]) -> None:
    if attempt.phase not in (Phase.WAITING, Phase.RUNNING):
        return  # the handler already returned: a late answer changes nothing
    status = result.get("status")
    if status == 200:
        attempt.sent_details_version = max(attempt.sent_details_version, version)
        if result.get("cancel_requested"):
            attempt.log.info("the job was cancelled; stopping the handler")
            attempt.stop(StopReason.CANCELLED)
    elif status in (404, 409):
        code = (result.get("error") or {}).get("code", status)
        attempt.log.warning("lease lost (%s); abandoning the attempt without completing it", code)
        attempt.stop(StopReason.LEASE_LOST)
    else:
        attempt.log.warning("heartbeat answered %s: %s", status, result.get("error"))
