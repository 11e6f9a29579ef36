"""Running a call, and running one that must get through (complete, fail)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from job_orchestrator.sdk._api import Call
from job_orchestrator.sdk._http import AsyncTransport
from job_orchestrator.sdk.errors import RateLimited, is_transient
from job_orchestrator.sdk.retry import Backoff

T = TypeVar("T")


async def run_call(transport: AsyncTransport, call: Call[T]) -> T:
    data = await transport.request(
        call.method, call.path, params=call.params, body=call.body, timeout=call.timeout
    )
    return call.parse(data)


async def deliver(
    transport: AsyncTransport,
    call: Call[T],
    *,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    what: str,
    aborted: Callable[[], bool],
    backoff: Backoff = Backoff(),
) -> T:
    """Retry ``call`` on connection errors, 503 and 429 until the server answers.

    The same request is sent every time, so its idempotency key (or lease token) makes a
    repeat harmless when an earlier try did reach the server and only the answer was lost.
    Raises the last error once ``aborted()`` (a forced stop), and any non-transient error.
    """
    delays = backoff.delays()
    failures = 0
    while True:
        try:
            return await run_call(transport, call)
        except Exception as error:
            if not (is_transient(error) or isinstance(error, RateLimited)) or aborted():
                raise
            failures += 1
            delay = next(delays)
            if isinstance(error, RateLimited) and isinstance(error.details, dict):
                delay = max(delay, float(error.details.get("retry_after_seconds") or 0))
            # The first failure and then every tenth: enough to see, not a flood.
            if failures == 1 or failures % 10 == 0:
                log.warning("%s failed (%s); retrying (try %d)", what, error, failures)
            await asyncio.sleep(delay)
