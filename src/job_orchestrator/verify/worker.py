"""A worker process for the scenarios: an SDK ``Worker`` running the verification handlers.

    python -m job_orchestrator.verify.worker --url URL --queue Q --ledger FILE [--worker-id ID]

Handlers (every one records what it did in the ledger, keyed by job id and attempt):

- ``effect``: sleeps ``ms`` (async), applies its effect, returns ``{"value", "square"}``;
- ``effect_sync``: the same in a plain ``def`` (the SDK's thread pool);
- ``slow``: heartbeats every 0.2 s for ``seconds``, then applies its effect;
- ``fail``: raises while the file ``until`` (if given) does not exist, then succeeds;
- ``hang``: heartbeats forever (bounded at 120 s) until the SDK stops it at its deadline;
- ``poison``: SIGKILLs its own worker process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time
from typing import Any

from job_orchestrator.sdk import HandlerCancelled, Worker, handler, heartbeat, info
from job_orchestrator.verify.ledger import Ledger

LEDGER: Ledger | None = None


def _record(kind: str) -> None:
    assert LEDGER is not None
    job = info()
    LEDGER.append(kind, job.job_id, job.attempt, job.worker_id)


def _result(payload: Any) -> dict[str, Any]:
    value = int((payload or {}).get("value", 0))
    return {"value": value, "square": value * value}


@handler("effect")
async def effect(payload: Any) -> dict[str, Any]:
    _record("start")
    await asyncio.sleep(float((payload or {}).get("ms", 0)) / 1000)
    _record("effect")
    return _result(payload)


@handler("effect_sync")
def effect_sync(payload: Any) -> dict[str, Any]:
    _record("start")
    time.sleep(float((payload or {}).get("ms", 0)) / 1000)
    _record("effect")
    return _result(payload)


@handler("slow")
async def slow(payload: Any) -> dict[str, Any]:
    _record("start")
    end = time.monotonic() + float(payload.get("seconds", 1))
    while time.monotonic() < end:
        heartbeat({"left": round(end - time.monotonic(), 2)})
        await asyncio.sleep(0.2)
    _record("effect")
    return _result(payload)


@handler("fail")
async def fail(payload: Any) -> dict[str, Any]:
    _record("start")
    until = (payload or {}).get("until")
    if until and await asyncio.to_thread(os.path.exists, until):
        _record("effect")
        return _result(payload)
    raise RuntimeError("verify: this job fails on purpose")


@handler("hang")
async def hang(payload: Any) -> dict[str, Any]:
    _record("start")
    end = time.monotonic() + 120
    try:
        while time.monotonic() < end:
            heartbeat({"alive": time.time()})
            await asyncio.sleep(0.2)
    except (HandlerCancelled, asyncio.CancelledError):
        _record("stopped")
        raise
    return {}


@handler("poison")
async def poison(payload: Any) -> None:
    _record("start")
    os.kill(os.getpid(), signal.SIGKILL)


HANDLERS = [effect, effect_sync, slow, fail, hang, poison]


def main(argv: list[str] | None = None) -> None:
    global LEDGER
    parser = argparse.ArgumentParser(prog="python -m job_orchestrator.verify.worker")
    parser.add_argument("--url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--worker-id")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    LEDGER = Ledger(args.ledger)
    worker = Worker(
        url=args.url,
        queues=[args.queue],
        handlers=HANDLERS,
        concurrency=args.concurrency,
        worker_id=args.worker_id,
        poll_seconds=args.poll_seconds,
        grace_seconds=2.0,
    )
    asyncio.run(worker.run())


if __name__ == "__main__":
    main()
