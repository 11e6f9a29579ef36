"""The wake-up hub's rules, without a database: one waiter woken per group, the wake passed on
by a full claim, "known empty" groups, no wake-up lost between a look and a wait, and one timer
per group set from the next due run_at."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import ExitStack

from job_orchestrator.services.wakeups import LeaseWaiter, WakeupHub


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def waiters(
    hub: WakeupHub, stack: ExitStack, n: int, queues: Sequence[str] = ("q",)
) -> list[LeaseWaiter]:
    return [stack.enter_context(hub.lease_waiter(queues)) for _ in range(n)]


async def park(waiter: LeaseWaiter, seconds: float = 10.0) -> asyncio.Task[bool]:
    task = asyncio.create_task(waiter.wait(seconds))
    await settle()
    return task


def look_short(waiter: LeaseWaiter) -> None:
    waiter.end_look(waiter.begin_look(), got=0, limit=1)


async def test_a_wake_up_wakes_one_waiter_per_group() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        same = waiters(hub, stack, 5)
        other_group = stack.enter_context(hub.lease_waiter(["q", "r"]))
        unrelated = stack.enter_context(hub.lease_waiter(["r"]))
        tasks = [await park(w) for w in [*same, other_group, unrelated]]
        hub.queue_ready("q")
        await settle()
        done = [t.done() for t in tasks]
        assert done[:5].count(True) == 1 and done[0]  # the longest-waiting one
        assert done[5] and not done[6]
        hub.close()
        assert all(await asyncio.gather(*tasks))  # shutdown releases every waiter


async def test_a_full_claim_passes_the_wake_on_and_a_short_one_does_not() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        first, second, third = waiters(hub, stack, 3)
        tasks = [await park(w) for w in (second, third)]
        epoch = first.begin_look()
        first.end_look(epoch, got=2, limit=2)  # full: there may be more
        await settle()
        assert tasks[0].done() and not tasks[1].done()
        epoch = second.begin_look()
        second.end_look(epoch, got=1, limit=2)  # short: the queue is drained
        await settle()
        assert not tasks[1].done()
        hub.close()


async def test_a_short_claim_makes_the_group_known_empty_until_the_next_wake_up() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        (first,) = waiters(hub, stack, 1)
        assert first.should_look_first()
        look_short(first)
        (late,) = waiters(hub, stack, 1)
        assert not late.should_look_first()  # it waits without claiming
        hub.queue_ready("q")
        (later,) = waiters(hub, stack, 1)
        assert later.should_look_first()
        hub.close()


async def test_a_poll_arriving_during_a_fresh_claim_defers_to_it() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        (first,) = waiters(hub, stack, 1)
        epoch = first.begin_look()
        (second,) = waiters(hub, stack, 1)
        assert not second.should_look_first()
        task = await park(second)
        first.end_look(epoch, got=1, limit=1)  # full: the deferred poll looks now
        await settle()
        assert task.done() and task.result()
        hub.close()


async def test_under_a_backlog_new_polls_claim_side_by_side() -> None:
    """While the last claim came back full, a poll arriving during another claim claims at
    once (SKIP LOCKED claims run in parallel); once a claim comes back short, polls defer
    again."""
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        (first,) = waiters(hub, stack, 1)
        first.end_look(first.begin_look(), got=10, limit=10)  # full: a backlog
        epoch = first.begin_look()  # claiming again
        (second,) = waiters(hub, stack, 1)
        assert second.should_look_first()
        first.end_look(epoch, got=3, limit=10)  # short: the backlog is gone
        (third,) = waiters(hub, stack, 1)
        assert not third.should_look_first()
        hub.close()


async def test_a_wake_up_during_a_look_is_not_lost() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        (only,) = waiters(hub, stack, 1)
        epoch = only.begin_look()
        hub.queue_ready("q")  # committed after the claim's snapshot
        only.end_look(epoch, got=0, limit=1)
        assert only.woken  # it looks again at once
        (newcomer,) = waiters(hub, stack, 1)
        assert newcomer.should_look_first()  # the short claim predates the wake-up
        hub.close()


async def test_a_woken_waiter_that_leaves_without_looking_passes_the_wake_on() -> None:
    hub = WakeupHub(fallback_seconds=60)
    with ExitStack() as stack:
        (stays,) = waiters(hub, stack, 1)
        with hub.lease_waiter(["q"]) as leaves:
            gone = await park(leaves)
            stays_task = await park(stays)
            hub.queue_ready("q")  # wakes `leaves`, the longest waiting
            await settle()
            assert gone.done() and not stays_task.done()
        await settle()  # its client had disconnected: the wake goes to `stays`
        assert stays_task.done()
        hub.close()


async def test_the_group_timer_wakes_one_waiter_when_the_next_run_at_comes_due() -> None:
    probes: list[tuple[str, ...]] = []

    async def next_due(queues: Sequence[str]) -> float | None:
        probes.append(tuple(queues))
        return 0.05

    hub = WakeupHub(next_due=next_due, fallback_seconds=60)
    with ExitStack() as stack:
        first, second = waiters(hub, stack, 2)
        look_short(first)  # nothing ready: the timer probes the next due run_at
        tasks = [await park(w) for w in (first, second)]
        assert probes == [("q",)]
        done, _ = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1 and tasks[0] in done
        await settle()
        assert not tasks[1].done()
        hub.close()


async def test_without_a_due_job_the_timer_falls_back_to_one_wake_per_interval() -> None:
    async def nothing_due(_queues: Sequence[str]) -> float | None:
        return None

    hub = WakeupHub(next_due=nothing_due, fallback_seconds=0.05)
    with ExitStack() as stack:
        group = waiters(hub, stack, 3)
        tasks = [await park(w) for w in group]
        done, _ = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1
        hub.close()


async def test_a_probe_that_fails_leaves_the_fallback_running() -> None:
    async def broken(_queues: Sequence[str]) -> float | None:
        raise ConnectionError("database down")

    hub = WakeupHub(next_due=broken, fallback_seconds=0.05)
    with ExitStack() as stack:
        (only,) = waiters(hub, stack, 1)
        look_short(only)
        task = await park(only)
        assert await asyncio.wait_for(task, 5)
        hub.close()
    await hub.wait_closed()
