"""In-process wake-ups for long polls: queues with ready jobs, jobs that reached an end."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

ALL_QUEUES = "*"


class WakeupHub:
    """Events that long-polling requests wait on; notifying sets every matching event.

    Waiters register before they look at the database, so a notification that arrives between
    the look and the wait is never lost.
    """

    def __init__(self) -> None:
        self._queues: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._jobs: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self.closing = False

    @contextmanager
    def queue_waiter(self, queues: Iterable[str]) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        names = list(queues)
        for name in names:
            self._queues[name].add(event)
        try:
            yield event
        finally:
            for name in names:
                waiters = self._queues.get(name)
                if waiters is not None:
                    waiters.discard(event)
                    if not waiters:
                        del self._queues[name]

    @contextmanager
    def job_waiter(self, job_id: int) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._jobs[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._jobs.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._jobs[job_id]

    def queue_ready(self, queue: str) -> None:
        if queue == ALL_QUEUES:
            targets: Iterable[set[asyncio.Event]] = list(self._queues.values())
        else:
            targets = [self._queues.get(queue, set())]
        for waiters in targets:
            for event in waiters:
                event.set()

    def job_changed(self, job_id: int) -> None:
        for event in self._jobs.get(job_id, ()):
            event.set()

    def close(self) -> None:
        """Release every waiter (server shutdown): long polls answer at once."""
        self.closing = True
        for waiters in [*self._queues.values(), *self._jobs.values()]:
            for event in waiters:
                event.set()


async def wait_for(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True when it was set."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
