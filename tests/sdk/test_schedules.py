"""The SDK's schedule calls against a real server, on both databases."""

from __future__ import annotations

import uuid

import pytest

from job_orchestrator.sdk import AsyncClient, Client, InvalidRequest, NotFound, ScheduleSpec


def name() -> str:
    return f"s-{uuid.uuid4().hex[:10]}"


def spec(schedule: str, queue: str, **fields: object) -> ScheduleSpec:
    base: dict[str, object] = {"cron": "0 3 * * *", "job": {"type": "report", "queue": queue}}
    return ScheduleSpec(name=schedule, **{**base, **fields})  # type: ignore[arg-type]


def test_put_get_pause_resume_trigger_delete(client: Client, queue: str) -> None:
    s = name()
    created = client.put_schedule(spec(s, queue, timezone="Europe/Berlin"))
    assert (created.name, created.cron, created.timezone) == (s, "0 3 * * *", "Europe/Berlin")
    assert created.next_fire_at is not None and created.last_job_id is None
    assert client.get_schedule(s) == created
    paused = client.pause_schedule(s)
    assert paused.paused and paused.next_fire_at is None
    assert not client.resume_schedule(s).paused
    job = client.trigger_schedule(s)
    assert (job.type, job.queue) == ("report", queue)
    assert client.get_schedule(s).last_job_id is None  # a trigger is outside the fire times
    client.delete_schedule(s)
    with pytest.raises(NotFound):
        client.get_schedule(s)
    assert client.get(job.id).id == job.id  # its jobs stay


def test_a_bad_cron_is_refused_naming_the_field(client: Client, queue: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        client.put_schedule(spec(name(), queue, cron="61 * * * *"))
    assert "cron" in str(raised.value)


def test_list_follows_the_cursor_past_one_page(client: Client, queue: str) -> None:
    names = sorted(name() for _ in range(5))
    for s in names:
        client.put_schedule(spec(s, queue))
    listed = [x.name for x in client.list_schedules(page_size=2)]
    assert [n for n in listed if n in names] == names
    assert listed == sorted(listed)


def test_apply_creates_updates_keeps_and_prunes(client: Client, queue: str) -> None:
    for old in client.list_schedules():  # apply --prune owns every schedule of the server
        client.delete_schedule(old.name)
    a, b, c = sorted(name() for _ in range(3))
    first = client.apply_schedules([spec(a, queue), spec(b, queue)])
    assert (first.created, first.updated, first.unchanged) == ([a, b], [], [])
    client.pause_schedule(a)  # an operator's pause: the file does not say, so it stays
    wanted = [spec(a, queue), spec(b, queue, every_seconds=60, cron=None), spec(c, queue)]
    dry = client.apply_schedules(wanted, dry_run=True)
    assert (dry.created, dry.updated, dry.unchanged) == ([c], [b], [a])
    assert client.get_schedule(b).cron == "0 3 * * *"  # nothing changed
    done = client.apply_schedules(wanted)
    assert done == dry
    assert client.get_schedule(b).every_seconds == 60 and client.get_schedule(a).paused
    again = client.apply_schedules(wanted[1:], prune=True)
    assert (again.unchanged, again.deleted) == ([b, c], [a])
    assert sorted(s.name for s in client.list_schedules()) == [b, c]


def test_apply_names_the_schedule_the_server_refused(client: Client, queue: str) -> None:
    s = name()
    with pytest.raises(InvalidRequest, match=f"schedule {s}: .*timezone"):
        client.apply_schedules([spec(s, queue, timezone="Mars/Olympus")])


async def test_the_async_client_has_the_same_calls(aclient: AsyncClient, queue: str) -> None:
    s = name()
    created = await aclient.put_schedule(spec(s, queue, every_seconds=3600, cron=None))
    assert created.every_seconds == 3600
    assert (await aclient.get_schedule(s)).name == s
    assert s in [x.name async for x in aclient.list_schedules()]
    assert (await aclient.pause_schedule(s)).paused
    assert not (await aclient.resume_schedule(s)).paused
    assert (await aclient.trigger_schedule(s)).queue == queue
    diff = await aclient.apply_schedules([spec(s, queue, every_seconds=3600, cron=None)])
    assert diff.unchanged == [s]
    await aclient.delete_schedule(s)
    with pytest.raises(NotFound):
        await aclient.get_schedule(s)
