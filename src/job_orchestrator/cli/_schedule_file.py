"""The schedules file of ``orchestrator schedules apply``: TOML, one table per schedule.

    [schedules.nightly-report]
    cron = "0 3 * * *"
    timezone = "Europe/Berlin"

    [schedules.nightly-report.job]
    type = "reports.nightly"
    payload = { format = "pdf" }

The shape is checked here, before anything is sent, so a typo fails the whole file with the
field's path; what only the server can judge (a cron expression, a time zone name) is its 422.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from job_orchestrator.sdk import ScheduleSpec

MAX_NAME = 255
MAX_CATCHUP = 31_536_000
FIELDS = {
    "cron",
    "every_seconds",
    "timezone",
    "overlap",
    "catchup_window_seconds",
    "paused",
    "job",
}
# The enqueue fields a schedule decides itself (api-v1.1.md, Schedules).
NOT_IN_JOB = ("run_at", "delay_seconds", "idempotency_key")


class ScheduleFileError(ValueError):
    """One line naming the file and the field."""


def load(path: Path) -> list[ScheduleSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScheduleFileError(f"{path}: cannot read: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ScheduleFileError(f"{path}: not UTF-8 text") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScheduleFileError(f"{path}: not valid TOML: {error}") from error
    try:
        return parse(document)
    except ScheduleFileError as error:
        raise ScheduleFileError(f"{path}: {error}") from error


def parse(document: dict[str, Any]) -> list[ScheduleSpec]:
    unknown = sorted(set(document) - {"schedules"})
    if unknown:
        raise ScheduleFileError(
            f"{unknown[0]}: unknown top-level key (schedules are [schedules.NAME] tables)"
        )
    tables = document.get("schedules", {})
    if not isinstance(tables, dict):
        raise ScheduleFileError("schedules: must be a table of [schedules.NAME] tables")
    return [_spec(name, table) for name, table in tables.items()]


def _spec(name: str, table: Any) -> ScheduleSpec:
    where = f"schedules.{name}"
    if not 1 <= len(name) <= MAX_NAME or "\x00" in name:
        raise ScheduleFileError(f"{where}: a schedule name is 1 to {MAX_NAME} characters")
    if not isinstance(table, dict):
        raise ScheduleFileError(f"{where}: must be a table")
    unknown = sorted(set(table) - FIELDS)
    if unknown:
        raise ScheduleFileError(f"{where}.{unknown[0]}: unknown field")
    cron = _typed(table, where, "cron", str)
    every = _typed(table, where, "every_seconds", int)
    if (cron is None) == (every is None):
        raise ScheduleFileError(f"{where}: give exactly one of cron and every_seconds")
    if every is not None and every < 1:
        raise ScheduleFileError(f"{where}.every_seconds: must be at least 1")
    overlap = _typed(table, where, "overlap", str) or "skip"
    if overlap not in ("skip", "allow"):
        raise ScheduleFileError(f"{where}.overlap: must be skip or allow")
    catchup = _typed(table, where, "catchup_window_seconds", int)
    if catchup is not None and not 0 <= catchup <= MAX_CATCHUP:
        raise ScheduleFileError(f"{where}.catchup_window_seconds: must be 0 to {MAX_CATCHUP}")
    return ScheduleSpec(
        name=name,
        job=_job(table.get("job"), f"{where}.job"),
        cron=cron,
        every_seconds=every,
        timezone=_typed(table, where, "timezone", str) or "UTC",
        overlap=overlap,
        catchup_window_seconds=60 if catchup is None else catchup,
        paused=_typed(table, where, "paused", bool),
    )


def _typed(table: dict[str, Any], where: str, field: str, kind: type) -> Any:
    value = table.get(field)
    # bool is an int in Python, not in TOML: `every_seconds = true` is a mistake.
    if value is not None and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        wanted = {str: "a string", int: "an integer", bool: "true or false"}[kind]
        raise ScheduleFileError(f"{where}.{field}: must be {wanted}")
    return value


def _job(job: Any, where: str) -> dict[str, Any]:
    if job is None:
        raise ScheduleFileError(f"{where}: missing (the job to enqueue, with at least type)")
    if not isinstance(job, dict):
        raise ScheduleFileError(f"{where}: must be a table")
    if not isinstance(job.get("type"), str) or not job["type"]:
        raise ScheduleFileError(f"{where}.type: required, a string")
    for field in NOT_IN_JOB:
        if field in job:
            raise ScheduleFileError(f"{where}.{field}: not allowed, the schedule decides it")
    return {k: _plain(v, f"{where}.{k}") for k, v in job.items()}


def _plain(value: Any, where: str) -> Any:
    """TOML's dates and times have no JSON form: refuse them rather than guess."""
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str | int | float | bool):
        return value
    raise ScheduleFileError(f"{where}: a TOML {type(value).__name__} has no JSON form; quote it")
