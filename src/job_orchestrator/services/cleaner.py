"""The cleaner: deletes terminal jobs past their retention period, in bounded batches.

Like the reaper, every server process runs one and a leader lease row (name ``cleaner``) makes
one of them act at a time. Each DELETE takes at most ``batch_size`` jobs, oldest finished first
(jobs_finished_idx), in its own short transaction, so no statement holds locks long enough to
show in lease latency; a round repeats batches until a state has nothing left to delete. The
deleted total lives in the database (maintenance_counters), so every process reports the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import CleanResult
from job_orchestrator.domain.retention import RetentionPolicy
from job_orchestrator.services.reaper import default_holder_id
from job_orchestrator.store.base import Store

log = logging.getLogger(__name__)

LEADER_NAME = "cleaner"
# A round stops after this many batches (the next round, seconds later, goes on): a backlog of
# millions after enabling retention must not keep one round running for minutes.
MAX_BATCHES_PER_ROUND = 100


class Cleaner:
    def __init__(
        self,
        store: Store,
        retention: RetentionPolicy,
        *,
        holder_id: str | None = None,
        interval: float = 2.0,
        batch_size: int = 1000,
        leader_ttl: float = 10.0,
    ) -> None:
        self.store = store
        self.retention = retention
        self.holder_id = holder_id or default_holder_id()
        self.interval = interval
        self.batch_size = batch_size
        self.leader_ttl = leader_ttl
        self.last_round: CleanResult | None = None  # this process's last round (dashboard)
        self._in_outage = False
        self._stopping = asyncio.Event()

    async def run_once(self, *, now: datetime | None = None) -> CleanResult | None:
        """One round: None when another process leads, else what was deleted, by state."""
        periods = self.retention.periods()
        if not periods:
            return CleanResult()
        if not await self.store.try_acquire_leadership(
            LEADER_NAME, self.holder_id, ttl_seconds=self.leader_ttl, now=now
        ):
            return None
        deleted: dict[str, int] = {}
        batches = 0
        for state, retain_seconds in periods:
            while batches < MAX_BATCHES_PER_ROUND:
                batches += 1
                n = await self.store.delete_expired(
                    state.value, retain_seconds=retain_seconds, limit=self.batch_size, now=now
                )
                if n:
                    deleted[state.value] = deleted.get(state.value, 0) + n
                if n < self.batch_size:
                    break
        result = CleanResult(deleted)
        self.last_round = result
        if result.total:
            log.info("cleaner deleted %d expired jobs %s", result.total, deleted)
        return result

    async def run(self) -> None:
        """Clean every ``interval`` seconds until ``stop()``; database outages are waited out."""
        while not self._stopping.is_set():
            try:
                await self.run_once()
                self._in_outage = False
            except StoreUnavailable as error:
                if not self._in_outage:
                    log.warning("cleaner: %s; will retry", error.message)
                self._in_outage = True
            except Exception:  # never let the loop die: log and carry on next round
                log.exception("cleaner round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    async def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(StoreUnavailable):  # the lease row expires by itself
            await self.store.release_leadership(LEADER_NAME, self.holder_id)
