"""Readiness: whether this process can reach its database (``GET /readyz``)."""

from __future__ import annotations

from job_orchestrator.store.base import Store


class HealthService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def check_database(self) -> None:
        """Returns when the database answers; raises ``StoreUnavailable`` when it does not."""
        await self._store.ping()
