"""Schedules, pure: the spec (cron or every_seconds, in a time zone), its fire times, and what
the scheduler does with a due schedule at ``now``.

Cron expressions are parsed and matched by cronsim (maintained, used by healthchecks.io), but
only on *naive wall times*: cronsim's own time-zone handling mimics Debian cron (a wall time a
DST change skips fires right after the jump), which is not the contract's rule. The wall times
are turned into instants here: one that does not exist in the zone does not fire; one the zone
repeats fires once, at its first occurrence (``fold=0``). Mapping wall times to instants that
way is monotonic, so "the first fire time at or after an instant" is the first matching wall
time, from the instant's own wall time on, whose instant is not earlier.

``every_seconds`` fire times are the instants whose Unix time is a multiple of it, whatever the
zone. Every fire time is a whole second in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from job_orchestrator.domain.errors import DomainError
from job_orchestrator.domain.models import JSON, NewJob
from job_orchestrator.domain.retry import RetryPolicy
from job_orchestrator.domain.value import value_object

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
MAX_CATCHUP_SECONDS = 31_536_000
# A fire time this recent is on time, not missed: the scheduler wakes at T and may take a
# moment, so a catch-up window of 0 (or 1) must not drop the fire time it is processing now.
ON_TIME_SECONDS = 5
# Fire times processed for one schedule in one step: the rest stay due for the next step, so a
# year-long catch-up window of every_seconds: 1 cannot make one transaction enqueue millions.
MAX_FIRES_PER_STEP = 100
# Wall times a cron expression may match without one of them existing (a DST gap is at most a
# few hours of minutes); past this the expression is taken as matching nothing.
_MAX_CANDIDATES = 2_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MICROSECOND = timedelta(microseconds=1)


class Overlap(StrEnum):
    SKIP = "skip"
    ALLOW = "allow"


class InvalidSchedule(DomainError):
    """A spec the contract refuses; ``field`` names the field (422)."""

    code = "invalid_request"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", details={"field": field_name})
        self.field = field_name


class ScheduleNotFound(DomainError):
    code = "not_found"


@value_object
class ScheduleSpec:
    """When a schedule fires: exactly one of ``cron`` and ``every_seconds``."""

    cron: str | None
    every_seconds: int | None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every_seconds is None):
            raise InvalidSchedule("cron", "give exactly one of cron and every_seconds")
        if self.cron is not None:
            _compiled_cron(self.cron)
        if self.every_seconds is not None and self.every_seconds < 1:
            raise InvalidSchedule("every_seconds", "must be an integer >= 1")
        zone(self.timezone)


@value_object
class ScheduleDefinition:
    """What a PUT says: the whole schedule, defaults filled in."""

    name: str
    spec: ScheduleSpec
    job: dict[str, Any]  # the enqueue body, every field present (see job_template)
    overlap: Overlap = Overlap.SKIP
    catchup_window_seconds: int = 60
    paused: bool = False


@value_object
class Schedule:
    name: str
    spec: ScheduleSpec
    job: dict[str, Any]
    overlap: Overlap
    catchup_window_seconds: int
    paused: bool
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_job_id: int | None
    created_at: datetime
    updated_at: datetime


@value_object
class FireDecision:
    """What the scheduler does with one due schedule: enqueue ``fire_times`` (oldest first),
    then store ``next_fire_at`` (the first fire time not yet processed)."""

    fire_times: tuple[datetime, ...]
    next_fire_at: datetime
    skipped: int = 0  # fire times processed without a job (missed or overlapping)


@value_object
class SchedulerStep:
    """One step of the scheduler over every due schedule."""

    enqueued: int = 0
    skipped: int = 0
    schedules: int = 0  # schedules that were due
    now: datetime | None = None  # the database clock the step ran at
    earliest_next_fire_at: datetime | None = None  # of every active schedule, after the step
    job_ids: tuple[int, ...] = field(default_factory=tuple)


# ---- parsing -------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (tzdata ships with the server, so no system data is needed)."""
    if not name or name != name.strip() or "\x00" in name or len(name) > 255:
        raise InvalidSchedule("timezone", f"{name[:64]!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise InvalidSchedule("timezone", f"{name[:64]!r} is not an IANA time zone name") from error


def normalize_cron(expression: str) -> str:
    """The five-field form of ``expression`` (aliases expanded); InvalidSchedule if bad."""
    text = " ".join(expression.split())
    expanded = ALIASES.get(text.lower(), text)
    if expanded.startswith("@"):
        raise InvalidSchedule("cron", f"unknown alias {text[:32]!r}: use {', '.join(ALIASES)}")
    if len(expanded.split(" ")) != 5:
        raise InvalidSchedule(
            "cron", "needs 5 fields (minute hour day-of-month month day-of-week) or an alias"
        )
    return expanded


@lru_cache(maxsize=4096)
def _compiled_cron(expression: str) -> str:
    five = normalize_cron(expression)
    try:
        CronSim(five, datetime(2000, 1, 1))
    except (CronSimError, ValueError, KeyError, IndexError) as error:
        raise InvalidSchedule("cron", f"{expression[:64]!r} is not valid: {error}") from error
    return five


# ---- fire times ----------------------------------------------------------------------------
def fire_at_or_after(spec: ScheduleSpec, instant: datetime) -> datetime:
    """The first fire time T >= ``instant`` (UTC, whole seconds)."""
    if spec.every_seconds is not None:
        return _every_at_or_after(spec.every_seconds, instant)
    assert spec.cron is not None
    return _cron_at_or_after(_compiled_cron(spec.cron), zone(spec.timezone), instant)


def fire_after(spec: ScheduleSpec, instant: datetime) -> datetime:
    """The first fire time strictly after ``instant``."""
    return fire_at_or_after(spec, instant + _MICROSECOND)


def fire_times(spec: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after ``after``, in order."""
    t = fire_after(spec, after)
    while True:
        yield t
        t = fire_after(spec, t)


def _every_at_or_after(every: int, instant: datetime) -> datetime:
    micros = (instant - _EPOCH) // _MICROSECOND
    step = every * 1_000_000
    return _EPOCH + timedelta(microseconds=-(-micros // step) * step)


def _cron_at_or_after(expression: str, tz: ZoneInfo, instant: datetime) -> datetime:
    wall = instant.astimezone(tz).replace(tzinfo=None, microsecond=0)
    # cronsim yields matches strictly after its start: start a second early so the instant's
    # own wall time counts; matches whose instant is earlier (a repeated hour) are passed by.
    candidates = CronSim(expression, wall - _SECOND)
    for _ in range(_MAX_CANDIDATES):
        try:
            candidate = next(candidates)
        except (StopIteration, CronSimError) as error:  # matches nothing any more
            raise InvalidSchedule("cron", f"{expression!r} never fires again") from error
        local = candidate.replace(tzinfo=tz, fold=0)
        as_utc = local.astimezone(UTC)
        if as_utc.astimezone(tz).replace(tzinfo=None) != candidate:
            continue  # a wall time the DST change skips: it does not fire
        if as_utc >= instant:
            return as_utc
    raise InvalidSchedule("cron", f"{expression!r} matches no existing time")


def to_unix_key(t: datetime) -> str:
    """T as the contract writes it in idempotency keys: RFC 3339 UTC, whole seconds, ``Z``."""
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def idempotency_key(name: str, t: datetime) -> str:
    return f"schedule:{name}:{to_unix_key(t)}"


# ---- what the scheduler does ---------------------------------------------------------------
def first_next_fire_at(spec: ScheduleSpec, now: datetime, *, paused: bool) -> datetime | None:
    """A new or resumed schedule's first fire time: after ``now`` (nothing is caught up)."""
    return None if paused else fire_after(spec, now)


def replaced_next_fire_at(
    old: Schedule, spec: ScheduleSpec, now: datetime, *, paused: bool
) -> datetime | None:
    """A replaced schedule takes its new spec from its next fire time on: a fire time that is
    due and not yet processed is not lost by an unchanged re-apply."""
    if paused:
        return None
    if old.paused or old.next_fire_at is None or old.next_fire_at > now:
        return fire_after(spec, now)
    return fire_at_or_after(spec, old.next_fire_at)


def decide(
    spec: ScheduleSpec,
    *,
    next_fire_at: datetime,
    now: datetime,
    catchup_window_seconds: int,
    overlap: Overlap,
    last_job_active: bool,
    max_fires: int = MAX_FIRES_PER_STEP,
) -> FireDecision:
    """The fire times of a due schedule (``next_fire_at <= now``) to enqueue at ``now``.

    Fire times older than the catch-up window are skipped, the others are enqueued oldest
    first; with ``overlap: skip`` a fire time is skipped while the last job is not terminal,
    so at most the oldest is enqueued (the job it makes is pending for the ones after it).
    """
    oldest = now - timedelta(seconds=max(catchup_window_seconds, ON_TIME_SECONDS))
    t = next_fire_at
    skipped = 0
    if t < oldest:
        t = fire_at_or_after(spec, oldest)  # no walk over years of missed fire times
        skipped += 1  # at least one; the exact number is not worth walking for
    due: list[datetime] = []
    while t <= now and len(due) < max_fires:
        due.append(t)
        t = fire_after(spec, t)
    if overlap is Overlap.SKIP:
        # Every due fire time is consumed: the first one only if the last job is done.
        fires = [] if last_job_active or not due else due[:1]
        rest = fire_after(spec, now) if t <= now else t
        return FireDecision(tuple(fires), rest, skipped + len(due) - len(fires))
    return FireDecision(tuple(due), t, skipped)


# ---- the job a fire time enqueues ----------------------------------------------------------
def new_job(
    schedule: Schedule, *, scheduled_for: datetime | None, owner: str | None = None
) -> NewJob:
    """The job of one fire time (``scheduled_for`` = T, keyed) or of a trigger (None, keyless)."""
    body = schedule.job
    retry = body.get("retry") or {}
    default = RetryPolicy()
    return NewJob(
        type=body["type"],
        payload=body.get("payload"),
        queue=body.get("queue", "default"),
        priority=body.get("priority", 0),
        max_attempts=body.get("max_attempts", 5),
        retry=RetryPolicy(
            initial_seconds=retry.get("initial_seconds", default.initial_seconds),
            multiplier=retry.get("multiplier", default.multiplier),
            max_seconds=retry.get("max_seconds", default.max_seconds),
            jitter=retry.get("jitter", default.jitter),
        ),
        lease_seconds=body.get("lease_seconds", 30.0),
        timeout_seconds=body.get("timeout_seconds"),
        idempotency_key=(
            None if scheduled_for is None else idempotency_key(schedule.name, scheduled_for)
        ),
        owner=owner,
        schedule=schedule.name,
        scheduled_for=scheduled_for,
    )


def job_body(value: JSON) -> dict[str, Any]:
    """The stored job template (a dict, as the API validated it)."""
    assert isinstance(value, dict)
    return value
