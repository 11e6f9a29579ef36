"""The queue service: the overview of every queue, pause, resume and stored settings."""

from __future__ import annotations

from job_orchestrator.domain.models import QueueChange, QueueInfo, QueueSettings
from job_orchestrator.store.base import Store

PAUSE = QueueChange(paused=True)
RESUME = QueueChange(paused=False)


class QueueService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def list(self) -> list[QueueInfo]:
        return await self.store.list_queues()

    async def get(self, name: str) -> QueueInfo:
        (info,) = await self.store.list_queues(name=name)
        return info

    async def change(self, name: str, change: QueueChange) -> QueueInfo:
        """Store the settings given (a paused queue leases nothing; resuming wakes its long
        polls, through the store's announcement); the queue as it now is."""
        await self.store.put_queue(name, change)
        return await self.get(name)

    async def pause(self, name: str) -> QueueInfo:
        return await self.change(name, PAUSE)

    async def resume(self, name: str) -> QueueInfo:
        return await self.change(name, RESUME)

    async def settings(self, name: str) -> QueueSettings:
        return await self.store.queue_settings(name)
