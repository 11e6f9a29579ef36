"""The worker's slots: which leased attempts run now and which wait for a slot.

With ``prefetch``, jobs are leased ahead of free slots and wait here, in lease order, until a
handler returns; a waiting job whose timeout would run out before a slot frees is handed back
to the server, and at shutdown every job that never started is released.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from job_orchestrator.sdk import _api
from job_orchestrator.sdk._attempt import Phase, RunningAttempt
from job_orchestrator.sdk._delivery import deliver
from job_orchestrator.sdk._heartbeats import Heartbeats
from job_orchestrator.sdk._http import AsyncTransport
from job_orchestrator.sdk._logging import worker_log
from job_orchestrator.sdk.errors import OrchestratorError

# A prefetched job with timeout_seconds is handed back this long (at most half its timeout)
# before its timeout would run out while it waits, so the server can still take it back.
HAND_BACK_MARGIN = 1.0


class Slots:
    """The attempts a worker holds, and the concurrency limit over their handlers."""

    def __init__(
        self,
        *,
        concurrency: int,
        prefetch: int,
        heartbeats: Heartbeats,
        transport: AsyncTransport,
        stopping: asyncio.Event,
        aborted: Callable[[], bool],
        run: Callable[[RunningAttempt], Coroutine[Any, Any, None]],
    ) -> None:
        self.concurrency = concurrency
        self.prefetch = prefetch
        self._heartbeats = heartbeats
        self._transport = transport
        self._stopping = stopping  # set by the worker's shutdown: no new starts, no hand-backs
        self._aborted = aborted
        self._run = run  # runs one attempt to its end, as the task held in attempt.runner
        self.active: dict[tuple[str, int], RunningAttempt] = {}
        # The attempts whose handler is still running: the concurrency limit counts these.
        # A finished handler gives its slot back at once, while its result is still being
        # reported (batched, retried): reporting is I/O and must not keep the next job waiting.
        self._executing: set[tuple[str, int]] = set()
        # Leased ahead (prefetch), in lease order, waiting for a slot; heartbeated meanwhile.
        self._waiting: deque[RunningAttempt] = deque()
        # Prefetched jobs whose timeout came too close before a slot freed, to hand back.
        self._to_hand_back: list[RunningAttempt] = []
        self._hand_back_task: asyncio.Task[None] | None = None
        self._slot_freed = asyncio.Event()

    async def wait_until_freed(self) -> None:
        self._slot_freed.clear()
        await self._slot_freed.wait()

    def add(self, attempt: RunningAttempt, received_at: float) -> None:
        self.active[attempt.key] = attempt
        self._heartbeats.add(attempt)
        if len(self._executing) < self.concurrency:
            self._begin(attempt)
        else:
            attempt.phase = Phase.WAITING
            self._waiting.append(attempt)
            remaining = attempt.remaining(received_at)
            if remaining is not None:
                # Its timeout runs while it waits (the server's deadline too): hand it back
                # while the server can still take it, rather than start it with no time left.
                margin = min(HAND_BACK_MARGIN, remaining / 2)
                attempt.hand_back = asyncio.get_running_loop().call_later(
                    remaining - margin, self._hand_back, attempt
                )

    def wanted(self) -> int:
        """How many jobs to ask for now (0: wait for a slot to free).

        Ask when a slot would otherwise sit idle (more free slots than jobs waiting), or, with
        prefetch, as soon as a whole prefetch's worth fits: the next batch is then leased while
        the current one runs, in one call instead of one per freed slot.
        """
        waiting = len(self._waiting)
        free = self.concurrency - len(self._executing)
        room = free + self.prefetch - waiting
        if free > waiting or (self.prefetch and room >= self.prefetch):
            return room
        return 0

    def _begin(self, attempt: RunningAttempt) -> None:
        self._cancel_hand_back(attempt)
        attempt.phase = Phase.RUNNING
        self._executing.add(attempt.key)
        attempt.runner = asyncio.create_task(self._run(attempt))

    def _begin_next_waiting(self) -> None:
        """A slot freed: the oldest prefetched job takes it (one stopped while waiting, by a
        cancel or a lost lease seen on its heartbeat, is dropped instead)."""
        while self._waiting and len(self._executing) < self.concurrency:
            attempt = self._waiting.popleft()
            if attempt.stop_reason is None:
                self._begin(attempt)
                return
            attempt.log.info("stopped (%s) before it started", attempt.stop_reason)
            self.forget(attempt)

    def _cancel_hand_back(self, attempt: RunningAttempt) -> None:
        if attempt.hand_back is not None:
            attempt.hand_back.cancel()
            attempt.hand_back = None

    def _hand_back(self, attempt: RunningAttempt) -> None:
        """A prefetched job's timeout is about to run out before a slot freed for it."""
        attempt.hand_back = None
        if attempt.phase is not Phase.WAITING or self._stopping.is_set():
            return  # started meanwhile, or the shutdown releases every waiting job anyway
        self._waiting.remove(attempt)
        self.forget(attempt)
        attempt.log.warning(
            "handed back unstarted: its timeout (%s s) would run out while it waits for a "
            "slot; a smaller prefetch avoids this",
            attempt.lease.timeout_seconds,
        )
        self._to_hand_back.append(attempt)
        if self._hand_back_task is None:
            self._hand_back_task = asyncio.create_task(self._send_hand_backs())
        self._slot_freed.set()  # the room for leasing changed

    async def _send_hand_backs(self) -> None:
        try:
            while self._to_hand_back:
                batch, self._to_hand_back = self._to_hand_back, []
                await self._release(batch, "handing back prefetched jobs")
        finally:
            self._hand_back_task = None

    def forget(self, attempt: RunningAttempt) -> None:
        self._cancel_hand_back(attempt)
        attempt.phase = Phase.DONE
        self._heartbeats.remove(attempt)
        self.active.pop(attempt.key, None)

    def release_slot(self, attempt: RunningAttempt) -> None:
        if attempt.key in self._executing:
            self._executing.discard(attempt.key)
            if not self._stopping.is_set():
                self._begin_next_waiting()
            self._slot_freed.set()

    async def release_waiting(self) -> None:
        """Hand the prefetched jobs that never started back to the server, in one call."""
        waiting = list(self._waiting)
        self._waiting.clear()
        for attempt in waiting:
            self.forget(attempt)
        if waiting:
            await self._release(waiting, "releasing prefetched jobs")

    async def finish_hand_backs(self) -> None:
        if self._hand_back_task is not None:
            await asyncio.gather(self._hand_back_task, return_exceptions=True)

    async def _release(self, attempts: list[RunningAttempt], what: str) -> None:
        """POST /v1/workers/release: the jobs are pending again at once, their attempt given
        back. If the server cannot be reached, their leases expire and the reaper retries them
        (an attempt is used then)."""
        items = [{"job_id": a.lease.job_id, "lease_token": a.lease.lease_token} for a in attempts]
        try:
            results = await deliver(
                self._transport,
                _api.release_batch(items),
                log=worker_log,
                what=what,
                aborted=self._aborted,
            )
        except OrchestratorError as error:
            worker_log.warning(
                "could not release %d prefetched jobs (%s); their leases will expire",
                len(attempts),
                error,
            )
            return
        released = sum(1 for result in results if result.get("status") == 200)
        worker_log.info("released %d prefetched jobs that had not started", released)
