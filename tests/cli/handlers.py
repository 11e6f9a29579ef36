"""Handlers the CLI tests run with `orchestrator worker tests.cli.handlers:handlers`."""

from __future__ import annotations

import asyncio
from typing import Any

from job_orchestrator.sdk import Handlers, NonRetryableError

handlers = Handlers()


@handlers.register("echo")
async def echo(payload: Any) -> Any:
    return payload


@handlers.register("sleepy")
async def sleepy(_: Any) -> None:
    await asyncio.sleep(3600)


@handlers.register("poison")
def poison(_: Any) -> None:
    raise NonRetryableError("this payload can never work")
