"""One job-orchestrator worker process for the benchmark: the SDK `Worker`, nothing else.

    .venv/bin/python -m bench.ours_worker --url http://127.0.0.1:PORT --concurrency 10

Runs with the product's environment (.venv), not .venv-bench: it is exactly what a user's
worker is. The handler is an async no-op that calls `bench.probe.report(seq)`; leasing, the
attempt row, heartbeats, batched guarded completions are the SDK's own, with its defaults
unless an option below says otherwise. SIGTERM stops it gracefully (the SDK's handler).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from bench.probe import report
from job_orchestrator.sdk import Worker, handler

JOB_TYPE = "noop"


@handler(JOB_TYPE)
async def noop(payload: Any) -> None:
    report(int(payload["seq"]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ours_worker")
    p.add_argument("--url", required=True)
    p.add_argument("--queue", default="bench")
    p.add_argument("--concurrency", type=int, default=10, help="handler slots in this process")
    p.add_argument(
        "--prefetch", type=int, default=0, help="jobs leased ahead of free slots (SDK option)"
    )
    p.add_argument("--poll-seconds", type=float, default=10.0, help="long poll wait")
    p.add_argument(
        "--completion-flush-seconds",
        type=float,
        default=None,
        help="the SDK's completion batching window (default: the SDK's)",
    )
    return p.parse_args(argv)


async def main_async(args: argparse.Namespace) -> None:
    options: dict[str, Any] = {}
    if args.completion_flush_seconds is not None:
        options["completion_flush_seconds"] = args.completion_flush_seconds
    worker = Worker(
        url=args.url,
        queues=[args.queue],
        handlers=[noop],
        concurrency=args.concurrency,
        prefetch=args.prefetch,
        poll_seconds=args.poll_seconds,
        grace_seconds=5.0,
        **options,
    )
    await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args))
    else:
        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
