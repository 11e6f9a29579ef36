"""Schedules, pure: cron and every_seconds fire times at fixed instants, DST in Europe/Berlin
and America/New_York (2026), and the scheduler's decision. No clock, no sleeping.

2026 transitions: Berlin springs forward on 29 March at 02:00 CET (01:00Z: 02:00-02:59 do not
exist) and falls back on 25 October at 03:00 CEST (01:00Z: 02:00-02:59 happen twice, first
at 00:xxZ, then at 01:xxZ). New York springs forward on 8 March at 02:00 EST (07:00Z) and
falls back on 1 November at 02:00 EDT (06:00Z: 01:00-01:59 happen twice, 05:xxZ then 06:xxZ).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from job_orchestrator.domain.schedules import (
    InvalidSchedule,
    Overlap,
    Schedule,
    ScheduleSpec,
    decide,
    fire_after,
    fire_at_or_after,
    fire_times,
    idempotency_key,
    new_job,
    replaced_next_fire_at,
    zone,
)


def z(text: str) -> datetime:
    """An instant written in UTC: '2026-03-29T01:30'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(expression: str, timezone: str = "UTC") -> ScheduleSpec:
    return ScheduleSpec(cron=expression, every_seconds=None, timezone=timezone)


def every(seconds: int, timezone: str = "UTC") -> ScheduleSpec:
    return ScheduleSpec(cron=None, every_seconds=seconds, timezone=timezone)


def first(spec: ScheduleSpec, after: datetime, n: int) -> list[datetime]:
    return list(islice(fire_times(spec, after), n))


# ---- cron syntax -------------------------------------------------------------------------
def test_every_fifteen_minutes_from_an_instant() -> None:
    assert first(cron("*/15 * * * *"), z("2026-01-01T00:00"), 3) == [
        z("2026-01-01T00:15"),
        z("2026-01-01T00:30"),
        z("2026-01-01T00:45"),
    ]
    # at_or_after counts the instant itself; after does not.
    assert fire_at_or_after(cron("*/15 * * * *"), z("2026-01-01T00:15")) == z("2026-01-01T00:15")
    assert fire_after(cron("*/15 * * * *"), z("2026-01-01T00:15")) == z("2026-01-01T00:30")
    assert fire_at_or_after(
        cron("*/15 * * * *"), z("2026-01-01T00:15") + timedelta(microseconds=1)
    ) == z("2026-01-01T00:30")


def test_lists_ranges_steps_and_names() -> None:
    spec = cron("5,35 9-17/4 * JAN,JUL MON-FRI")
    # 2 January 2026 is a Friday; 9-17/4 is 9, 13, 17.
    assert first(spec, z("2026-01-01T23:00"), 7) == [
        z("2026-01-02T09:05"),
        z("2026-01-02T09:35"),
        z("2026-01-02T13:05"),
        z("2026-01-02T13:35"),
        z("2026-01-02T17:05"),
        z("2026-01-02T17:35"),
        z("2026-01-05T09:05"),  # Monday: the weekend is skipped
    ]
    # Outside January and July nothing matches until July.
    assert fire_after(spec, z("2026-02-01T00:00")) == z("2026-07-01T09:05")


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # Standard cron: the 13th OR any Friday (13 January 2026 is a Tuesday).
    assert first(cron("0 0 13 * FRI"), z("2026-01-01T00:00"), 4) == [
        z("2026-01-02T00:00"),
        z("2026-01-09T00:00"),
        z("2026-01-13T00:00"),
        z("2026-01-16T00:00"),
    ]
    # With a star in one of them, only the other one restricts.
    assert first(cron("0 0 * * FRI"), z("2026-01-01T00:00"), 2) == [
        z("2026-01-02T00:00"),
        z("2026-01-09T00:00"),
    ]
    assert first(cron("0 0 13 * *"), z("2026-01-01T00:00"), 2) == [
        z("2026-01-13T00:00"),
        z("2026-02-13T00:00"),
    ]
    assert fire_after(cron("0 0 * * 7"), z("2026-01-01T00:00")) == z("2026-01-04T00:00")  # Sun


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", [z("2026-01-01T11:00"), z("2026-01-01T12:00")]),
        ("@daily", [z("2026-01-02T00:00"), z("2026-01-03T00:00")]),
        ("@weekly", [z("2026-01-04T00:00"), z("2026-01-11T00:00")]),  # Sundays
        ("@monthly", [z("2026-02-01T00:00"), z("2026-03-01T00:00")]),
        ("@yearly", [z("2027-01-01T00:00"), z("2028-01-01T00:00")]),
    ],
)
def test_aliases(alias: str, expected: list[datetime]) -> None:
    assert first(cron(alias), z("2026-01-01T10:30"), 2) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "* * * *",
        "0 0 * * * *",  # six fields (seconds): not the contract's cron
        "61 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "0 0 30 2 *",  # never
        "@reboot",
        "@every 5m",
        "a b c d e",
        "*/0 * * * *",
    ],
)
def test_bad_cron_names_the_field(expression: str) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        cron(expression)
    assert raised.value.field == "cron"


@pytest.mark.parametrize("name", ["Mars/Base", "", " UTC", "../../etc/passwd", "Europe/", "x\x00"])
def test_bad_timezone_names_the_field(name: str) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        zone(name)
    assert raised.value.field == "timezone"


def test_exactly_one_of_cron_and_every_seconds() -> None:
    with pytest.raises(InvalidSchedule):
        ScheduleSpec(cron="* * * * *", every_seconds=5)
    with pytest.raises(InvalidSchedule):
        ScheduleSpec(cron=None, every_seconds=None)
    with pytest.raises(InvalidSchedule):
        every(0)


# ---- time zones and DST ------------------------------------------------------------------
def test_cron_runs_on_the_zones_wall_clock() -> None:
    # 03:00 in Berlin is 02:00Z in winter and 01:00Z in summer.
    assert fire_after(cron("0 3 * * *", "Europe/Berlin"), z("2026-01-10T00:00")) == z(
        "2026-01-10T02:00"
    )
    assert fire_after(cron("0 3 * * *", "Europe/Berlin"), z("2026-07-10T00:00")) == z(
        "2026-07-10T01:00"
    )
    assert fire_after(cron("0 9 * * *", "America/New_York"), z("2026-01-10T00:00")) == z(
        "2026-01-10T14:00"
    )


def test_berlin_spring_forward_a_skipped_wall_time_does_not_fire() -> None:
    daily = cron("30 2 * * *", "Europe/Berlin")
    # 02:30 on 28 March (CET, 01:30Z); on 29 March 02:30 does not exist; 30 March CEST.
    assert first(daily, z("2026-03-28T00:00"), 2) == [z("2026-03-28T01:30"), z("2026-03-30T00:30")]
    # Every quarter hour: 01:45 CET is followed by 03:00 CEST, nothing in between.
    quarterly = cron("*/15 * * * *", "Europe/Berlin")
    assert first(quarterly, z("2026-03-29T00:30"), 3) == [
        z("2026-03-29T00:45"),  # 01:45 CET
        z("2026-03-29T01:00"),  # 03:00 CEST
        z("2026-03-29T01:15"),
    ]
    # Hourly at :00 keeps firing every real hour: 01:00 CET, then 03:00 CEST.
    assert first(cron("0 * * * *", "Europe/Berlin"), z("2026-03-28T23:30"), 3) == [
        z("2026-03-29T00:00"),
        z("2026-03-29T01:00"),
        z("2026-03-29T02:00"),
    ]


def test_berlin_fall_back_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    daily = cron("30 2 * * *", "Europe/Berlin")
    # 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET): only the first fires.
    assert first(daily, z("2026-10-24T12:00"), 2) == [z("2026-10-25T00:30"), z("2026-10-26T01:30")]
    half_hourly = cron("*/30 * * * *", "Europe/Berlin")
    assert first(half_hourly, z("2026-10-24T23:15"), 6) == [
        z("2026-10-24T23:30"),  # 01:30 CEST
        z("2026-10-25T00:00"),  # 02:00 CEST
        z("2026-10-25T00:30"),  # 02:30 CEST
        # 02:00 and 02:30 CET (01:00Z, 01:30Z) are repeats: they do not fire again
        z("2026-10-25T02:00"),  # 03:00 CET
        z("2026-10-25T02:30"),
        z("2026-10-25T03:00"),
    ]
    # From an instant inside the repeated hour, the next fire time is after the repeat.
    assert fire_at_or_after(half_hourly, z("2026-10-25T01:10")) == z("2026-10-25T02:00")
    assert fire_at_or_after(half_hourly, z("2026-10-25T00:10")) == z("2026-10-25T00:30")


def test_new_york_spring_forward_and_fall_back() -> None:
    hourly = cron("0 * * * *", "America/New_York")
    # 01:00 EST (06:00Z), 02:00 does not exist, 03:00 EDT (07:00Z).
    assert first(hourly, z("2026-03-08T05:30"), 2) == [z("2026-03-08T06:00"), z("2026-03-08T07:00")]
    skipped = cron("30 2 * * *", "America/New_York")
    assert first(skipped, z("2026-03-07T00:00"), 2) == [
        z("2026-03-07T07:30"),
        z("2026-03-09T06:30"),
    ]
    repeated = cron("30 1 * * *", "America/New_York")
    # 01:30 EDT (05:30Z) fires; 01:30 EST (06:30Z) is its repeat and does not.
    assert first(repeated, z("2026-10-31T12:00"), 2) == [
        z("2026-11-01T05:30"),
        z("2026-11-02T06:30"),
    ]
    # Hourly across the fall back: 01:00 EDT (05:00Z), 01:00 EST is a repeat, 02:00 EST (07:00Z).
    assert first(hourly, z("2026-11-01T04:30"), 3) == [
        z("2026-11-01T05:00"),
        z("2026-11-01T07:00"),
        z("2026-11-01T08:00"),
    ]


def test_every_seconds_is_unix_time_multiples_unaffected_by_zone_and_dst() -> None:
    for timezone in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        hourly = every(3600, timezone)
        # Across Berlin's spring forward: every whole hour UTC, none skipped or doubled.
        assert first(hourly, z("2026-03-29T00:00"), 3) == [
            z("2026-03-29T01:00"),
            z("2026-03-29T02:00"),
            z("2026-03-29T03:00"),
        ]
    seven = every(7)
    t = fire_at_or_after(seven, z("2026-01-01T00:00") + timedelta(microseconds=5))
    assert t.timestamp() % 7 == 0 and t.microsecond == 0
    assert fire_after(seven, t) == t + timedelta(seconds=7)
    assert fire_at_or_after(every(1), z("2026-05-05T10:00") + timedelta(milliseconds=300)) == z(
        "2026-05-05T10:00:01"
    )
    assert fire_at_or_after(every(1), z("2026-05-05T10:00")) == z("2026-05-05T10:00")


def test_idempotency_key_is_rfc3339_utc_whole_seconds() -> None:
    berlin = zone("Europe/Berlin")
    t = datetime(2026, 3, 29, 3, 0, tzinfo=berlin)
    assert idempotency_key("nightly", t) == "schedule:nightly:2026-03-29T01:00:00Z"


# ---- the scheduler's decision ------------------------------------------------------------
NOW = z("2026-06-01T12:00")


def test_on_time_fire_is_enqueued_even_with_no_catchup_window() -> None:
    decision = decide(
        every(60),
        next_fire_at=NOW,
        now=NOW + timedelta(milliseconds=800),
        catchup_window_seconds=0,
        overlap=Overlap.SKIP,
        last_job_active=False,
    )
    assert decision.fire_times == (NOW,)
    assert decision.next_fire_at == NOW + timedelta(seconds=60)


def test_catchup_enqueues_the_fire_times_within_the_window_oldest_first() -> None:
    decision = decide(
        every(60),
        next_fire_at=NOW - timedelta(minutes=10),
        now=NOW + timedelta(seconds=1),
        catchup_window_seconds=150,
        overlap=Overlap.ALLOW,
        last_job_active=True,  # allow: regardless
    )
    assert decision.fire_times == (
        NOW - timedelta(seconds=120),
        NOW - timedelta(seconds=60),
        NOW,
    )
    assert decision.next_fire_at == NOW + timedelta(seconds=60)
    assert decision.skipped >= 1


def test_overlap_skip_enqueues_only_the_oldest_and_nothing_while_the_last_job_runs() -> None:
    kwargs = {
        "next_fire_at": NOW - timedelta(seconds=120),
        "now": NOW,
        "catchup_window_seconds": 300,
        "overlap": Overlap.SKIP,
    }
    done = decide(every(60), last_job_active=False, **kwargs)  # type: ignore[arg-type]
    assert done.fire_times == (NOW - timedelta(seconds=120),)
    assert (done.next_fire_at, done.skipped) == (NOW + timedelta(seconds=60), 2)
    running = decide(every(60), last_job_active=True, **kwargs)  # type: ignore[arg-type]
    assert running.fire_times == ()
    assert (running.next_fire_at, running.skipped) == (NOW + timedelta(seconds=60), 3)


def test_a_long_catchup_is_done_in_bounded_steps() -> None:
    decision = decide(
        every(1),
        next_fire_at=NOW - timedelta(hours=1),
        now=NOW,
        catchup_window_seconds=31_536_000,
        overlap=Overlap.ALLOW,
        last_job_active=False,
        max_fires=100,
    )
    assert len(decision.fire_times) == 100
    assert decision.fire_times[0] == NOW - timedelta(hours=1)
    assert decision.next_fire_at == NOW - timedelta(hours=1) + timedelta(seconds=100)


def test_a_year_of_missed_every_second_fire_times_is_not_walked() -> None:
    decision = decide(
        every(1),
        next_fire_at=NOW - timedelta(days=365),
        now=NOW,
        catchup_window_seconds=10,
        overlap=Overlap.ALLOW,
        last_job_active=False,
    )
    assert decision.fire_times[0] == NOW - timedelta(seconds=10)
    assert decision.fire_times[-1] == NOW
    assert decision.next_fire_at == NOW + timedelta(seconds=1)


def test_catchup_across_a_dst_gap_skips_the_missing_wall_time() -> None:
    # Down from 00:50Z to 01:20Z on Berlin's spring-forward day, a 1 h window: 01:45 CET
    # (00:45Z, missed), 03:00 CEST (01:00Z) and 03:15 CEST (01:15Z) fire; 02:xx never existed.
    decision = decide(
        cron("*/15 * * * *", "Europe/Berlin"),
        next_fire_at=z("2026-03-29T00:45"),
        now=z("2026-03-29T01:20"),
        catchup_window_seconds=3600,
        overlap=Overlap.ALLOW,
        last_job_active=False,
    )
    assert decision.fire_times == (
        z("2026-03-29T00:45"),
        z("2026-03-29T01:00"),
        z("2026-03-29T01:15"),
    )
    assert decision.next_fire_at == z("2026-03-29T01:30")


def _schedule(spec: ScheduleSpec, *, next_fire_at: datetime | None, paused: bool) -> Schedule:
    return Schedule(
        name="s",
        spec=spec,
        job={"type": "t", "queue": "q", "retry": {"jitter": False}},
        overlap=Overlap.SKIP,
        catchup_window_seconds=60,
        paused=paused,
        next_fire_at=next_fire_at,
        last_fire_at=None,
        last_job_id=None,
        created_at=NOW,
        updated_at=NOW,
    )


def test_replacing_takes_effect_from_the_next_fire_time() -> None:
    old = _schedule(every(60), next_fire_at=NOW + timedelta(seconds=30), paused=False)
    assert replaced_next_fire_at(old, every(10), NOW, paused=False) == NOW + timedelta(seconds=10)
    # A fire time due and not yet processed survives an unchanged re-apply.
    due = _schedule(every(60), next_fire_at=NOW - timedelta(seconds=60), paused=False)
    assert replaced_next_fire_at(due, every(60), NOW, paused=False) == NOW - timedelta(seconds=60)
    assert replaced_next_fire_at(due, every(60), NOW, paused=True) is None
    paused = _schedule(every(60), next_fire_at=None, paused=True)
    assert replaced_next_fire_at(paused, every(60), NOW, paused=False) == NOW + timedelta(
        seconds=60
    )


def test_the_job_of_a_fire_time_and_of_a_trigger() -> None:
    schedule = _schedule(every(60), next_fire_at=NOW, paused=False)
    fired = new_job(schedule, scheduled_for=NOW)
    assert (fired.type, fired.queue, fired.schedule, fired.scheduled_for) == ("t", "q", "s", NOW)
    assert fired.idempotency_key == "schedule:s:2026-06-01T12:00:00Z"
    assert fired.retry.jitter is False and fired.retry.initial_seconds == 1.0
    triggered = new_job(schedule, scheduled_for=None)
    assert (triggered.idempotency_key, triggered.scheduled_for, triggered.schedule) == (
        None,
        None,
        "s",
    )
