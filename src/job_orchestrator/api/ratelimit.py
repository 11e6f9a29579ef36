"""Token buckets per API key (or client address) for the enqueue and lease calls."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from job_orchestrator.api.errors import RateLimited

DEFAULT_REMOTE_RATE = 200.0


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, Bucket] = {}

    def take(self, who: str, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens or raise RateLimited with the wait until they are there."""
        now = time.monotonic()
        bucket = self._buckets.get(who)
        if bucket is None:
            if len(self._buckets) > 100_000:  # bounded memory under a flood of identities
                self._buckets.clear()
            bucket = self._buckets[who] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < cost:
            wait = (cost - bucket.tokens) / self.rate
            raise RateLimited(f"rate limit of {self.rate:g} requests/s exceeded; retry later", wait)
        bucket.tokens -= cost


async def limit(request: Request) -> None:
    """Dependency for the rate-limited calls; a no-op when the limiter is off.

    Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop
    on every enqueue and lease (py-spy showed it on the hot path).
    """
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return
    principal = getattr(request.state, "principal", None)
    key_id = getattr(principal, "key_id", None)
    who = key_id or (request.client.host if request.client else "unknown")
    limiter.take(who)


# Declare after the principal parameter, so the key is known when the bucket is chosen.
RateLimit = Annotated[None, Depends(limit)]
