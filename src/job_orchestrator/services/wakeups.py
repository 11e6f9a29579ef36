"""In-process wake-ups for long polls: queues with ready jobs, jobs that reached an end.

Lease waiters with the same (queues, types) are interchangeable, so they form one group:

- a wake-up (a write announced a queue, or the group's timer fired) wakes ONE waiter of each
  group that names the queue, not all of them (200 idle workers woken by one job were ~217
  claims and a pool overflow);
- a waiter whose claim came back full passes the wake on (there may be more jobs); one that
  came back short does not;
- a claim that came back short marks the group "known empty" until the next wake-up: a new
  long poll of that group then waits without claiming (idle polls that time out and come back
  cost no statement); so does one that arrives while a claim begun since the last wake-up is
  in flight (that claim passes the wake on if it comes back full): 200 polls arriving at once
  make one claim, not 200 and a pool overflow; but while the last claim came back full (a
  backlog), new polls claim at once, side by side, as workers under load need;
- jobs that become ready without a write (a ``run_at`` coming due: delays, retry backoff,
  snooze) are found by one timer per group, not a claim per waiter every poll interval: it asks
  the database for the earliest future ``run_at`` of the group's queues and sleeps until then,
  at most ``fallback_seconds`` (after which it wakes one waiter anyway: the safety net for a
  notification that never came);
- a waiter is registered before it looks at the database, and every wake-up bumps the group's
  epoch, so a notification that arrives between the look and the wait is never lost: the
  looking waiter is woken again, and its short claim does not mark the group empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

ALL_QUEUES = "*"
DEFAULT_FALLBACK_SECONDS = 5.0

log = logging.getLogger(__name__)

# The seconds until the earliest pending run_at of these queues that is still in the future
# (None: there is none). An index probe in the store.
NextDueProbe = Callable[[Sequence[str]], Awaitable[float | None]]
GroupKey = tuple[tuple[str, ...], tuple[str, ...] | None]


class LeaseWaiter:
    """One waiting long poll: looks (claims) when it is woken or the group is not known empty."""

    __slots__ = ("_event", "_group", "_look_epoch")

    def __init__(self, group: _Group) -> None:
        self._group = group
        self._event = asyncio.Event()
        self._look_epoch = -1

    @property
    def woken(self) -> bool:
        return self._event.is_set()

    def should_look_first(self) -> bool:
        """A new long poll claims at once unless a claim of its group found nothing since the
        last wake-up, or one begun since then is still in flight, except while the group's
        last claim came back full: there is a backlog, and claims of it run side by side
        (SKIP LOCKED) as they did before groups; deferring them took turns and cost
        throughput under load."""
        group = self._group
        return not group.known_empty() and (group.backlog or not group.fresh_looks)

    def begin_look(self) -> int:
        """Before the claim: the epoch it starts in (a wake-up during the claim bumps it)."""
        group = self._group
        self._event.clear()
        group.idle.pop(self, None)
        group.looking[self] = None
        group.fresh_looks += 1
        self._look_epoch = group.epoch
        return group.epoch

    def end_look(self, epoch: int, *, got: int, limit: int) -> None:
        """After a claim that answered: pass the wake on when it came back full, remember the
        group empty (and ask for a new probe) when it came back short."""
        group = self._group
        self._look_done()
        if got >= limit:
            group.backlog = True
            group.wake_one()
        else:
            group.backlog = False
            group.claimed_short(epoch)

    def abandon_look(self) -> None:
        """After a claim that raised: nothing is learnt about the queue (the polls that
        deferred to it are found by the group's timer)."""
        self._look_done()

    def _look_done(self) -> None:
        group = self._group
        group.looking.pop(self, None)
        if self._look_epoch == group.epoch:
            group.fresh_looks -= 1
        self._look_epoch = -1

    async def wait(self, seconds: float) -> bool:
        """Until woken or ``seconds`` passed; True when woken."""
        group = self._group
        if not self._event.is_set():
            group.idle[self] = None
        try:
            return await wait_for(self._event, seconds)
        finally:
            group.idle.pop(self, None)

    def wake(self) -> None:
        self._group.idle.pop(self, None)
        self._group.looking.pop(self, None)
        self._event.set()


class _Group:
    """The waiters of one (queues, types), their epoch and their timer."""

    def __init__(self, key: GroupKey) -> None:
        self.queues, self.types = key
        self.members: set[LeaseWaiter] = set()
        # Waiting and not yet woken, oldest first; claiming and not yet woken.
        self.idle: dict[LeaseWaiter, None] = {}
        self.looking: dict[LeaseWaiter, None] = {}
        self.epoch = 0  # bumped by every wake-up of the group
        self.empty_epoch = -1  # a claim that started in this epoch came back short
        self.probed_epoch = -1  # the timer's probe ran in this epoch
        self.fresh_looks = 0  # claims in flight begun in this epoch
        self.backlog = False  # the last claim that answered came back full
        self.reprobe = asyncio.Event()
        self.timer: asyncio.Task[None] | None = None

    def known_empty(self) -> bool:
        return self.empty_epoch == self.epoch

    def wake_one(self) -> None:
        """Wake the longest-waiting idle waiter, else one that is claiming (it claims again)."""
        for pool in (self.idle, self.looking):
            if pool:
                next(iter(pool)).wake()
                return

    def announce(self) -> None:
        """Something may be ready: a new epoch, one waiter woken."""
        self.epoch += 1
        self.fresh_looks = 0
        self.wake_one()

    def claimed_short(self, epoch: int) -> None:
        self.empty_epoch = max(self.empty_epoch, epoch)
        if epoch > self.probed_epoch:
            # A wake-up came since the timer's last probe and found nothing ready: it may
            # have been a job with a later run_at (a delay, a retry backoff).
            self.reprobe.set()

    def wake_all(self) -> None:
        for waiter in list(self.members):
            waiter.wake()


class WakeupHub:
    """Lease waiters in groups (see the module's docstring), and job waiters."""

    def __init__(
        self,
        *,
        next_due: NextDueProbe | None = None,
        fallback_seconds: float = DEFAULT_FALLBACK_SECONDS,
    ) -> None:
        self._next_due = next_due
        self.fallback_seconds = fallback_seconds
        self._groups: dict[GroupKey, _Group] = {}
        self._by_queue: defaultdict[str, set[_Group]] = defaultdict(set)
        self._jobs: defaultdict[int, set[asyncio.Event]] = defaultdict(set)
        self.closing = False

    # ---- lease waiters --------------------------------------------------------------------
    @contextmanager
    def lease_waiter(
        self, queues: Iterable[str], types: Iterable[str] | None = None
    ) -> Iterator[LeaseWaiter]:
        key: GroupKey = (
            tuple(sorted(set(queues))),
            None if types is None else tuple(sorted(set(types))),
        )
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
            for queue in group.queues:
                self._by_queue[queue].add(group)
        waiter = LeaseWaiter(group)
        group.members.add(waiter)
        if group.timer is None or group.timer.done():
            group.timer = asyncio.create_task(self._run_timer(group), name="lease-group-timer")
        try:
            yield waiter
        finally:
            group.members.discard(waiter)
            group.idle.pop(waiter, None)
            group.looking.pop(waiter, None)
            if waiter.woken and not self.closing:
                # Woken but leaving without a look (its client is gone, its time is up): the
                # wake was meant for the group.
                group.wake_one()

    def groups(self) -> int:
        """How many groups are kept (for tests and metrics)."""
        return len(self._groups)

    async def _run_timer(self, group: _Group) -> None:
        """The group's fallback: sleep until its queues' earliest future run_at (or the
        fallback), then wake one waiter. Ends, and forgets the group, once it has been without
        waiters for a whole round (a poll that comes back at once finds its state kept)."""
        fired_on_due = False
        try:
            while not self.closing:
                delay = self.fallback_seconds
                # Probe after a short claim in a newer epoch (something was announced that
                # was not ready yet), or after firing on a due run_at (the next one is unknown).
                if fired_on_due or group.probed_epoch < group.empty_epoch:
                    group.probed_epoch = group.epoch
                    group.reprobe.clear()
                    due = await self._probe(group)
                    if due is not None:
                        delay = min(max(due, 0.0), delay)
                fired_on_due = delay < self.fallback_seconds
                if await wait_for(group.reprobe, delay):
                    fired_on_due = False
                    continue  # a short claim since the probe: probe again
                if not group.members:
                    break
                group.announce()
        finally:
            if self._groups.get((group.queues, group.types)) is group and not group.members:
                del self._groups[(group.queues, group.types)]
                for queue in group.queues:
                    groups = self._by_queue.get(queue)
                    if groups is not None:
                        groups.discard(group)
                        if not groups:
                            del self._by_queue[queue]

    async def _probe(self, group: _Group) -> float | None:
        if self._next_due is None:
            return None
        try:
            return await self._next_due(group.queues)
        except Exception as error:  # the database is down: the fallback still fires
            log.debug("could not read the next due run_at: %s", error)
            return None

    def queue_ready(self, queue: str) -> None:
        if queue == ALL_QUEUES:
            groups: Iterable[_Group] = list(self._groups.values())
        else:
            groups = list(self._by_queue.get(queue, ()))
        for group in groups:
            group.announce()

    # ---- job waiters ----------------------------------------------------------------------
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

    def job_changed(self, job_id: int) -> None:
        for event in self._jobs.get(job_id, ()):
            event.set()

    def close(self) -> None:
        """Release every waiter (server shutdown): long polls answer at once."""
        self.closing = True
        for group in list(self._groups.values()):
            group.wake_all()
            if group.timer is not None:
                group.timer.cancel()
        for waiters in self._jobs.values():
            for event in waiters:
                event.set()

    async def wait_closed(self) -> None:
        """Until the group timers have ended (after ``close``)."""
        timers = [g.timer for g in self._groups.values() if g.timer is not None]
        for timer in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await timer


async def wait_for(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` at most ``seconds``; True when it was set."""
    if event.is_set():
        return True
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
