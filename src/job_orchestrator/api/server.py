"""Running the API under uvicorn (uvloop, httptools), one or several processes."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from job_orchestrator.settings import Settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Long polls are answered at once when the signal arrives, so what is left to drain is the
# in-flight writes: a few milliseconds, far inside this.
GRACEFUL_SHUTDOWN_SECONDS = 5


def serve(settings: Settings) -> None:
    if settings.should_auto_migrate:
        from job_orchestrator.store.migrate import migrate

        # Once, before the worker processes start, so they never race on a fresh file.
        migrate(settings.resolved_database_url)
    # Worker processes re-read their settings from the environment.
    os.environ["ORCHESTRATOR_DATABASE_URL"] = settings.resolved_database_url
    os.environ["ORCHESTRATOR_AUTO_MIGRATE"] = "false"
    for name, value in settings.model_dump(exclude={"database_url", "auto_migrate"}).items():
        if value is not None:
            os.environ[f"ORCHESTRATOR_{name.upper()}"] = str(value)
    uvicorn.run(
        "job_orchestrator.api.server:create_served_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def create_served_app() -> FastAPI:
    """uvicorn factory (each server process): the app, whose long polls are answered as soon
    as a stop signal arrives."""
    from job_orchestrator.api.app import create_app_from_env

    app = create_app_from_env()
    running = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with running(app) as state:
            with on_stop_signal(lambda: app.state.service.hub.close()):
                yield state

    app.router.lifespan_context = lifespan
    return app


@contextmanager
def on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` on the event loop when SIGTERM or SIGINT arrives, then let the handler
    that was there (uvicorn's) do its part.

    uvicorn's own sequence on SIGTERM stops accepting, waits for the running requests (up to
    the graceful timeout), and only then runs the lifespan's shutdown: a waiting long poll held
    the process for the whole timeout and was then cancelled, each one logging "Exception in
    ASGI application". Releasing the wake-up hub as the signal arrives answers them at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handle(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        chained = previous[signal.Signals(sig)]
        if callable(chained):
            chained(sig, frame)

    installed = [sig for sig, handler in previous.items() if callable(handler)]
    for sig in installed:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig in installed:
            signal.signal(sig, previous[sig])
