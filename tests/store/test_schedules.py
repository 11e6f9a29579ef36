"""Schedules in the store, on SQLite and PostgreSQL: definitions, and the scheduler's step with
a moved clock (never sleeping): one job per fire time, catch-up, overlap, pause, DST."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from job_orchestrator.domain.models import Completion, JobFilter, LeaseRequest
from job_orchestrator.domain.schedules import (
    Overlap,
    ScheduleDefinition,
    ScheduleNotFound,
    ScheduleSpec,
)
from job_orchestrator.domain.states import JobState
from job_orchestrator.store import Store, open_store

JOB = {"type": "report", "payload": {"n": 1}, "queue": "cron", "priority": 2}


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def every(
    name: str, seconds: int, *, overlap: Overlap = Overlap.ALLOW, window: int = 60, **kw: object
) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=name,
        spec=ScheduleSpec(cron=None, every_seconds=seconds),
        job=JOB,
        overlap=overlap,
        catchup_window_seconds=window,
        **kw,  # type: ignore[arg-type]
    )


def cron(
    name: str, expression: str, timezone: str, overlap: Overlap = Overlap.SKIP
) -> ScheduleDefinition:
    spec = ScheduleSpec(cron=expression, every_seconds=None, timezone=timezone)
    return ScheduleDefinition(name=name, spec=spec, job=JOB, overlap=overlap)


async def scheduled_jobs(store: Store) -> list[tuple[str | None, datetime | None, str | None]]:
    jobs = await store.list_jobs(JobFilter(limit=500))
    return sorted(
        ((j.schedule, j.scheduled_for, j.idempotency_key) for j in jobs),
        key=lambda item: (item[0] or "", item[1] or z("1970-01-01T00:00")),
    )


T0 = z("2027-01-01T00:00")  # a whole minute: every_seconds fire times fall on its seconds


async def test_put_creates_then_replaces_the_whole_schedule(store: Store) -> None:
    created, was_created = await store.put_schedule(every("tick", 10), now=T0)
    assert was_created
    assert (created.name, created.spec.every_seconds, created.spec.timezone) == ("tick", 10, "UTC")
    assert created.job == JOB and created.overlap is Overlap.ALLOW and not created.paused
    assert created.next_fire_at == T0 + timedelta(seconds=10)
    assert (created.last_fire_at, created.last_job_id) == (None, None)
    assert created.created_at == created.updated_at == T0
    assert await store.get_schedule("tick") == created

    later = T0 + timedelta(seconds=3)
    replaced, was_created = await store.put_schedule(
        cron("tick", "0 3 * * *", "Europe/Berlin"), now=later
    )
    assert not was_created
    assert (replaced.spec.cron, replaced.spec.every_seconds) == ("0 3 * * *", None)
    assert replaced.spec.timezone == "Europe/Berlin"
    assert replaced.overlap is Overlap.SKIP  # omitted: the default again
    assert replaced.next_fire_at == z("2027-01-01T02:00")  # 03:00 CET
    assert (replaced.created_at, replaced.updated_at) == (T0, later)


async def test_get_and_delete_a_missing_schedule(store: Store) -> None:
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("nope")
    with pytest.raises(ScheduleNotFound):
        await store.delete_schedule("nope")
    with pytest.raises(ScheduleNotFound):
        await store.set_schedule_paused("nope", True)


async def test_list_pages_by_name(store: Store) -> None:
    for name in ("c", "a", "b", "ünï"):
        await store.put_schedule(every(name, 60), now=T0)
    first = await store.list_schedules(limit=2)
    assert [s.name for s in first] == ["a", "b"]
    rest = await store.list_schedules(limit=2, after="b")
    assert [s.name for s in rest] == ["c", "ünï"]
    assert await store.list_schedules(limit=2, after="ünï") == []


async def test_each_fire_time_enqueues_one_keyed_job(store: Store) -> None:
    await store.put_schedule(every("tick", 10), now=T0)
    nothing = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=9))
    assert (nothing.enqueued, nothing.schedules) == (0, 0)
    assert nothing.earliest_next_fire_at == T0 + timedelta(seconds=10)

    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=10.4))
    assert (step.enqueued, step.schedules) == (1, 1)
    job = await store.get_job(step.job_ids[0])
    assert (job.schedule, job.scheduled_for) == ("tick", T0 + timedelta(seconds=10))
    assert job.idempotency_key == "schedule:tick:2027-01-01T00:00:10Z"
    assert (job.type, job.queue, job.priority, job.payload) == ("report", "cron", 2, {"n": 1})
    assert job.state is JobState.PENDING and job.run_at >= job.scheduled_for
    schedule = await store.get_schedule("tick")
    assert schedule.next_fire_at == T0 + timedelta(seconds=20)
    assert schedule.last_fire_at == T0 + timedelta(seconds=10)
    assert schedule.last_job_id == job.id
    assert step.earliest_next_fire_at == T0 + timedelta(seconds=20)

    again = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=11))
    assert again.enqueued == 0
    assert len(await scheduled_jobs(store)) == 1


async def test_ordinary_jobs_have_no_schedule(store: Store) -> None:
    from job_orchestrator.domain.models import NewJob

    job = (await store.enqueue(NewJob(type="plain"))).job
    assert (job.schedule, job.scheduled_for) == (None, None)
    assert (await store.get_job(job.id)).schedule is None


async def test_catchup_enqueues_missed_fire_times_within_the_window_oldest_first(
    store: Store,
) -> None:
    await store.put_schedule(every("tick", 10, window=60), now=T0)
    # No server ran for 200 s: 10..200 were missed; those no older than 60 s are caught up.
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=200))
    fired = [t for _, t, _ in await scheduled_jobs(store)]
    assert fired == [T0 + timedelta(seconds=s) for s in range(140, 201, 10)]
    assert step.enqueued == 7 and step.skipped >= 1
    jobs = [await store.get_job(i) for i in step.job_ids]
    assert [j.scheduled_for for j in jobs] == fired  # ids ascend oldest first
    schedule = await store.get_schedule("tick")
    assert schedule.last_fire_at == T0 + timedelta(seconds=200)
    assert schedule.last_job_id == max(step.job_ids)


async def test_overlap_skip_waits_for_the_last_job(store: Store) -> None:
    await store.put_schedule(every("tick", 10, overlap=Overlap.SKIP), now=T0)
    first = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=10))
    assert first.enqueued == 1
    # The job is still pending at 20 and 30: both skipped, last_job_id stays.
    for s in (20, 30):
        step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=s))
        assert (step.enqueued, step.skipped) == (0, 1)
    schedule = await store.get_schedule("tick")
    assert schedule.last_job_id == first.job_ids[0]
    assert schedule.last_fire_at == T0 + timedelta(seconds=10)
    # Once it is done, the next fire time enqueues again.
    leased = await store.lease(
        LeaseRequest(worker_id="w", queues=("cron",)), now=T0 + timedelta(seconds=35)
    )
    (lease,) = leased
    await store.complete(Completion(lease.job_id, lease.lease_token, "ok"))
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=40))
    assert step.enqueued == 1
    assert (await store.get_job(step.job_ids[0])).scheduled_for == T0 + timedelta(seconds=40)


async def test_overlap_allow_enqueues_regardless(store: Store) -> None:
    await store.put_schedule(every("tick", 10, overlap=Overlap.ALLOW), now=T0)
    for s in (10, 20, 30):
        step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=s))
        assert step.enqueued == 1
    assert len(await scheduled_jobs(store)) == 3


async def test_pause_fires_nothing_and_resume_does_not_catch_up(store: Store) -> None:
    await store.put_schedule(every("tick", 10), now=T0)
    paused = await store.set_schedule_paused("tick", True, now=T0 + timedelta(seconds=1))
    assert paused.paused and paused.next_fire_at is None
    assert (await store.set_schedule_paused("tick", True)).paused  # again: no change
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=45))
    assert step.enqueued == 0
    resumed = await store.set_schedule_paused("tick", False, now=T0 + timedelta(seconds=45))
    assert not resumed.paused and resumed.next_fire_at == T0 + timedelta(seconds=50)
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=50))
    assert [t for _, t, _ in await scheduled_jobs(store)] == [T0 + timedelta(seconds=50)]


async def test_put_paused_has_no_next_fire_time(store: Store) -> None:
    schedule, _ = await store.put_schedule(every("tick", 10, paused=True), now=T0)
    assert schedule.paused and schedule.next_fire_at is None


async def test_delete_leaves_the_enqueued_jobs(store: Store) -> None:
    await store.put_schedule(every("tick", 10), now=T0)
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=10))
    await store.delete_schedule("tick")
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("tick")
    assert (await store.get_job(step.job_ids[0])).schedule == "tick"


async def test_the_idempotency_key_stops_a_fire_time_from_enqueueing_twice(store: Store) -> None:
    """Deleted and created again with the same name and clock: its fire times were enqueued
    already, and the keys (not the fresh next_fire_at) keep them from a second job."""
    await store.put_schedule(every("tick", 10), now=T0)
    first = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=30))
    assert first.enqueued == 3
    await store.delete_schedule("tick")
    await store.put_schedule(every("tick", 10), now=T0)
    second = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=30))
    assert second.enqueued == 0
    assert len(await scheduled_jobs(store)) == 3
    schedule = await store.get_schedule("tick")
    assert schedule.last_job_id == max(first.job_ids)  # the existing job of the last fire time
    assert schedule.next_fire_at == T0 + timedelta(seconds=40)


async def test_many_schedules_are_processed_in_batches(store: Store) -> None:
    for i in range(25):
        await store.put_schedule(every(f"s{i:02}", 1), now=T0)
    step = await store.run_due_schedules(batch_size=10, now=T0 + timedelta(seconds=1))
    assert (step.schedules, step.enqueued) == (10, 10)
    step = await store.run_due_schedules(batch_size=100, now=T0 + timedelta(seconds=1))
    assert (step.schedules, step.enqueued) == (15, 15)
    assert step.earliest_next_fire_at == T0 + timedelta(seconds=2)


async def test_berlin_dst_through_the_step(store: Store) -> None:
    """30 2 * * * in Europe/Berlin over the 2027 transitions (28 March, 31 October), steps
    run at every fire time and in between: the skipped day fires nothing, the repeated 02:30
    fires once."""
    await store.put_schedule(
        cron("nightly", "30 2 * * *", "Europe/Berlin", Overlap.ALLOW), now=z("2027-03-26T12:00")
    )
    clock = z("2027-03-26T12:00")
    while clock < z("2027-03-31T00:00"):
        clock += timedelta(minutes=30)
        await store.run_due_schedules(batch_size=10, now=clock)
    spring = [t for _, t, _ in await scheduled_jobs(store)]
    assert spring == [z("2027-03-27T01:30"), z("2027-03-29T00:30"), z("2027-03-30T00:30")]

    clock = z("2027-10-30T12:00")
    while clock < z("2027-11-01T12:00"):
        clock += timedelta(minutes=15)
        await store.run_due_schedules(batch_size=10, now=clock)
    autumn = [t for _, t, _ in await scheduled_jobs(store)][len(spring) :]
    # Missed 31 March .. 29 October (outside the 60 s window) are skipped, not caught up;
    # the first step after the gap only moves next_fire_at on.
    assert autumn == [z("2027-10-31T00:30"), z("2027-11-01T01:30")]


async def test_two_servers_stepping_at_once_never_make_two_jobs_for_one_fire_time(
    database_url: str,
) -> None:
    stores = [open_store(database_url) for _ in range(3)]
    try:
        for i in range(20):
            await stores[0].put_schedule(every(f"s{i:02}", 1), now=T0)

        async def server(store: Store) -> None:
            for s in range(1, 16):
                now = T0 + timedelta(seconds=s)
                await asyncio.gather(
                    *(store.run_due_schedules(batch_size=7, now=now) for _ in range(2))
                )

        await asyncio.gather(*(server(store) for store in stores))
        fired = Counter((name, t) for name, t, _ in await scheduled_jobs(stores[0]))
        assert set(fired.values()) == {1}
        assert len(fired) == 20 * 15  # and none missed
    finally:
        for store in stores:
            await store.close()
