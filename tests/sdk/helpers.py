"""Helpers for SDK tests against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from job_orchestrator.sdk import Worker
from job_orchestrator.sdk.handlers import HandlersLike


@contextlib.asynccontextmanager
async def running_worker(
    url: str, queue: str, handlers: HandlersLike, **options: Any
) -> AsyncIterator[Worker]:
    options.setdefault("grace_seconds", 1.0)
    options.setdefault("poll_seconds", 2.0)
    worker = Worker(url=url, queues=[queue], handlers=handlers, handle_signals=False, **options)
    async with worker:
        yield worker


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, what: str = "condition"
) -> None:
    """For server-side facts that cannot be awaited (a reaper acting): check every 50 ms."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


class Proxy:
    """A TCP proxy to the server that a test can cut (a network partition) and heal."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.partitioned = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.partition()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def partition(self) -> None:
        self.partitioned = True
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def heal(self) -> None:
        self.partitioned = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.partitioned:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.partitioned:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)
