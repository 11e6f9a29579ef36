"""A realistic mix of handlers, run by the demo with

    orchestrator worker examples.handlers:handlers --concurrency 20

- ``fast``: returns at once (most jobs are like this);
- ``slow``: works in steps, heartbeats its progress, resumes from it on a retry;
- ``flaky``: fails its first attempts with a transient error, then succeeds;
- ``poison``: can never succeed: a ``NonRetryableError`` sends it straight to the DLQ;
- ``overrun``: runs past its ``timeout_seconds``; the worker stops it at the deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from job_orchestrator.sdk import Handlers, NonRetryableError, heartbeat, info

handlers = Handlers()


@handlers.register("fast")
async def fast(payload: dict[str, Any]) -> dict[str, Any]:
    return {"n": payload.get("n"), "squared": payload.get("n", 0) ** 2}


@handlers.register("slow")
def slow(payload: dict[str, Any]) -> dict[str, Any]:
    """A plain def: it runs in the worker's thread pool, so blocking calls are fine."""
    steps = int(payload.get("steps", 10))
    resume = info().heartbeat_details or {}
    start = int(resume.get("done", 0))  # a retry picks up where the last attempt got to
    for step in range(start, steps):
        time.sleep(float(payload.get("step_seconds", 0.2)))
        heartbeat({"done": step + 1, "of": steps})
    return {"steps": steps, "resumed_from": start}


class TransientError(Exception):
    """Stands for a timeout or a 503 from some other service."""


@handlers.register("flaky")
async def flaky(payload: dict[str, Any]) -> str:
    if info().attempt <= int(payload.get("fail_times", 2)):
        raise TransientError(f"upstream unavailable (attempt {info().attempt})")
    return f"ok after {info().attempt} attempts"


@handlers.register("poison")
async def poison(payload: dict[str, Any]) -> None:
    raise NonRetryableError(f"cannot parse order {payload.get('order')!r}")


@handlers.register("overrun")
async def overrun(payload: dict[str, Any]) -> None:
    await asyncio.sleep(float(payload.get("seconds", 60)))
