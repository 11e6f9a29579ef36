"""The dashboard's read models on both backends (no browser): pages, id search, chart, ages."""

from __future__ import annotations

import itertools
from datetime import timedelta

from job_orchestrator.domain.models import Completion, FailureInfo, LeaseRequest, NewJob
from job_orchestrator.domain.states import JobState
from job_orchestrator.services.dashboard import ago, build_throughput
from job_orchestrator.store import Store
from job_orchestrator.store.dashboard import (
    MAX_ID,
    DashboardReader,
    JobSearch,
    MinuteCount,
    id_prefix_ranges,
)


def test_id_prefix_ranges_are_disjoint_ascending_primary_key_ranges() -> None:
    assert id_prefix_ranges("12")[:3] == [(12, 12), (120, 129), (1200, 1299)]
    ranges = id_prefix_ranges("9")
    assert ranges[-1][1] <= MAX_ID
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    for bad in ("", "0", "012", "1a", "\uff11", "9" * 20):
        assert id_prefix_ranges(bad) == []


def test_throughput_series_cover_the_hour_minute_by_minute() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 30, 20, tzinfo=UTC)
    minute = int(now.timestamp() // 60)
    rows = [
        MinuteCount("a", minute, 3, 1),
        MinuteCount("a", minute - 59, 1, 0),
        MinuteCount("a", minute - 60, 9, 9),  # outside the window
        MinuteCount("b", minute - 1, 0, 2),
    ]
    series = build_throughput(rows, now, 3600)
    assert len(series.labels) == 60 and series.labels[-1] == "12:30"
    ok, failed = series.by_queue["a"]
    assert (ok[-1], failed[-1], ok[0], sum(ok), sum(failed)) == (3, 1, 1, 4, 1)
    total = series.as_json()["series"][""]  # type: ignore[index]
    assert sum(total["failed"]) == 3


def test_ago_reads_like_a_person_would_say_it() -> None:
    assert [ago(None), ago(5), ago(125), ago(7300), ago(200_000)] == [
        "\u2013",
        "5 s",
        "2 min",
        "2 h 1 min",
        "2 d",
    ]


async def test_job_pages_are_keyset_paginated_and_filtered(store: Store) -> None:
    reader = DashboardReader.for_store(store)
    jobs = [
        (await store.enqueue(NewJob(type="t1" if i % 2 else "t2", queue="q", payload={"i": i}))).job
        for i in range(7)
    ]
    await store.enqueue(NewJob(type="t1", queue="other"))
    ids = [j.id for j in jobs]

    first = await reader.jobs(JobSearch(queue="q", limit=3))
    assert [j.id for j in first] == ids[::-1][:3]
    second = await reader.jobs(JobSearch(queue="q", limit=3, before_id=first[-1].id))
    assert [j.id for j in second] == ids[::-1][3:6]
    typed = await reader.jobs(JobSearch(queue="q", type="t1"))
    assert {j.id for j in typed} == {j.id for j in jobs if j.type == "t1"}
    assert await reader.jobs(JobSearch(queue="q", state=JobState.DLQ)) == []
    assert first[0].state is JobState.PENDING and first[0].error_message is None


async def test_id_search_finds_the_exact_id_and_ids_starting_with_it(store: Store) -> None:
    reader = DashboardReader.for_store(store)
    made = [(await store.enqueue(NewJob(type="t"))).job.id for _ in range(12)]
    assert made[0] == 1  # fresh database
    found = await reader.jobs(JobSearch(id_prefix="1"))
    assert [j.id for j in found] == [12, 11, 10, 1]
    assert [j.id for j in await reader.jobs(JobSearch(id_prefix="1", limit=2))] == [12, 11]
    assert [j.id for j in await reader.jobs(JobSearch(id_prefix="1", before_id=11))] == [10, 1]
    assert [j.id for j in await reader.jobs(JobSearch(id_prefix="7"))] == [7]
    assert await reader.jobs(JobSearch(id_prefix="99")) == []
    assert await reader.jobs(JobSearch(id_prefix="1", state=JobState.DLQ)) == []


async def test_throughput_and_oldest_pending_come_from_the_database(store: Store) -> None:
    reader = DashboardReader.for_store(store)
    now = await store.db_now()
    old = now - timedelta(hours=2)
    # Two hours ago: a success that is outside the window.
    await store.enqueue(NewJob(type="t", queue="q"), now=old)
    (lease,) = await store.lease(LeaseRequest(worker_id="w", queues=("q",)), now=old)
    await store.complete(Completion(lease.job_id, lease.lease_token, None), now=old)
    # Within the hour: one success, one final failure, one retryable failure.
    for _ in range(3):
        await store.enqueue(NewJob(type="t", queue="q", max_attempts=1), now=now)
    leases = await store.lease(LeaseRequest(worker_id="w", queues=("q",), max_jobs=3), now=now)
    later = now + timedelta(seconds=1)
    await store.complete(Completion(leases[0].job_id, leases[0].lease_token, {"ok": 1}), now=later)
    await store.fail(leases[1].job_id, leases[1].lease_token, FailureInfo("boom"), now=later)
    await store.fail(
        leases[2].job_id, leases[2].lease_token, FailureInfo("no", retryable=False), now=later
    )
    # A pending job that became due 90 s ago, and one not due yet (not counted).
    await store.enqueue(NewJob(type="t", queue="waiting"), now=now - timedelta(seconds=90))
    await store.enqueue(NewJob(type="t", queue="later", delay_seconds=600), now=now)

    rows = await reader.throughput(now=later + timedelta(seconds=1))
    assert sum(r.succeeded for r in rows) == 1
    assert sum(r.failed for r in rows) == 2
    assert {r.queue for r in rows} == {"q"}
    assert all(r.minute == int(later.timestamp() // 60) for r in rows)

    ages = await reader.oldest_pending_age(now=now)
    assert set(ages) == {"waiting"}
    assert 89 <= ages["waiting"] <= 91
