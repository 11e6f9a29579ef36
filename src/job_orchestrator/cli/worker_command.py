"""``orchestrator worker MODULE:ATTR``: run a worker for the handlers found there."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import threading
from collections.abc import Coroutine
from typing import Annotated, Any

import typer

from job_orchestrator.cli._common import ApiKey, Url, fail
from job_orchestrator.sdk import OrchestratorError, Worker
from job_orchestrator.sdk.handlers import HandlersLike, as_handlers


def load_handlers(target: str) -> HandlersLike:
    """``package.module:attr`` -> a ``Handlers`` registry, a mapping of type to function, a
    list of ``@handler`` functions, or one. The current directory is importable, as with
    uvicorn."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        fail(f"expected MODULE:ATTR (e.g. examples.handlers:handlers), got {target!r}", 2)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        fail(f"cannot import {module_name}: {error}", 2)
    try:
        found: HandlersLike = getattr(module, attribute)
    except AttributeError:
        fail(f"{module_name} has no attribute {attribute!r}", 2)
    try:
        as_handlers(found)
    except (TypeError, ValueError) as error:
        fail(f"{target} is not a set of handlers: {error}", 2)
    return found


def split_queues(queues: list[str]) -> list[str]:
    names = [name.strip() for entry in queues for name in entry.split(",")]
    return [name for name in names if name] or ["default"]


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    # uvloop, when installed (it comes with the server extra), makes the worker's HTTP cheaper.
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def worker(
    target: Annotated[str, typer.Argument(metavar="MODULE:ATTR", help="Where the handlers are")],
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at the same time")] = 10,
    prefetch: Annotated[
        int,
        typer.Option(
            min=0, help="Jobs leased ahead of free slots (for many short jobs; 0 for long ones)"
        ),
    ] = 0,
    queues: Annotated[
        list[str] | None, typer.Option("--queues", "-q", help="Queues to serve (repeat or a,b)")
    ] = None,
    grace: Annotated[
        float, typer.Option(help="Seconds running jobs get to finish on SIGTERM/SIGINT")
    ] = 30.0,
    poll: Annotated[float, typer.Option(help="Long-poll wait when idle (seconds, <= 30)")] = 10.0,
    worker_id: Annotated[str | None, typer.Option(help="[default: host-pid-random]")] = None,
    log_level: Annotated[str, typer.Option(envvar="ORCHESTRATOR_LOG_LEVEL")] = "info",
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log the traceback of every failed job")
    ] = False,
    url: Url = None,
    api_key: ApiKey = None,
) -> None:
    """Run a worker: lease jobs of the handlers' types and run them until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handlers = load_handlers(target)
    the_worker = Worker(
        url=url,
        api_key=api_key,
        handlers=handlers,
        # No --queues: the handlers' own (a task's queue, else default).
        queues=split_queues(queues) if queues else None,
        concurrency=concurrency,
        prefetch=prefetch,
        grace_seconds=grace,
        poll_seconds=poll,
        worker_id=worker_id,
        log_tracebacks=verbose,
    )
    try:
        run_loop(the_worker.run())
    except OrchestratorError as error:
        fail(str(error))
    if any(t.name.startswith("job-handler") for t in threading.enumerate()):
        # A sync handler that ignored its cancellation still runs in a thread, and Python
        # would wait for it at exit. Its job was already released; do not hang on it.
        logging.getLogger("job_orchestrator.worker").warning(
            "sync handlers still running after the stop; exiting without them"
        )
        logging.shutdown()
        os._exit(0)
