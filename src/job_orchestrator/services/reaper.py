"""The reaper: ends attempts whose lease or execution deadline passed, then retries or DLQs them.

Every server process runs one; a leader lease row (name ``reaper``, renewed each round, expiring
after ``leader_ttl``) makes exactly one of them act at a time, on PostgreSQL and SQLite alike.
Even two acting at once would stay correct (rows are taken with SKIP LOCKED and every update is
guarded by the lease token), the election just keeps them from doing the work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import datetime

from job_orchestrator.domain.errors import StoreUnavailable
from job_orchestrator.domain.models import ReapResult
from job_orchestrator.services.metrics import Metrics
from job_orchestrator.store.base import Store

log = logging.getLogger(__name__)

LEADER_NAME = "reaper"


def default_holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Reaper:
    def __init__(
        self,
        store: Store,
        *,
        holder_id: str | None = None,
        interval: float = 1.0,
        batch_size: int = 500,
        leader_ttl: float = 10.0,
        recovery_grace: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.holder_id = holder_id or default_holder_id()
        self.interval = interval
        self.batch_size = batch_size
        self.leader_ttl = leader_ttl
        self.recovery_grace = recovery_grace
        self._in_outage = False
        self._recovered_at: float | None = None
        self.metrics = metrics
        self._stopping = asyncio.Event()

    async def run_once(self, *, now: datetime | None = None) -> ReapResult | None:
        """One round: None when another process leads, else what was reaped (all pages)."""
        if not await self.store.try_acquire_leadership(
            LEADER_NAME, self.holder_id, ttl_seconds=self.leader_ttl, now=now
        ):
            return None
        total = ReapResult()
        while True:
            page = await self.store.reap_expired(batch_size=self.batch_size, now=now)
            total = ReapResult(
                lease_expired=total.lease_expired + page.lease_expired,
                timed_out=total.timed_out + page.timed_out,
                retried=total.retried + page.retried,
                dead_lettered=total.dead_lettered + page.dead_lettered,
            )
            if page.total < self.batch_size:
                break
        if self.metrics is not None:
            self.metrics.record_reap(total)
        if total.total:
            log.info(
                "reaped %d attempts (%d lease expired, %d timed out): %d retried, %d dead-lettered",
                total.total,
                total.lease_expired,
                total.timed_out,
                total.retried,
                total.dead_lettered,
            )
        return total

    async def run(self) -> None:
        """Reap every ``interval`` seconds until ``stop()``; database outages are waited out."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                await self._round(loop.time())
            except StoreUnavailable as error:
                if not self._in_outage:
                    log.warning("reaper: %s; will retry", error.message)
                self._in_outage = True
            except Exception:  # never let the loop die: log and carry on next round
                log.exception("reaper round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    async def _round(self, now: float) -> None:
        """One round of the loop: after a database outage, hold off before expiring leases.

        While the database was down, workers could neither heartbeat nor complete; their
        retries land once it is back. Expiring their leases first would burn attempts that
        did nothing wrong, so for ``recovery_grace`` seconds the reaper only watches.
        """
        if self._in_outage:
            await self.store.ping()  # raises while the database is still down
            self._in_outage = False
            self._recovered_at = now
            log.info(
                "reaper: the database is back; expiring leases again in %.0f s", self.recovery_grace
            )
            return
        if self._recovered_at is not None and now - self._recovered_at < self.recovery_grace:
            return
        self._recovered_at = None
        await self.run_once()

    async def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(StoreUnavailable):  # the lease row expires by itself
            await self.store.release_leadership(LEADER_NAME, self.holder_id)
