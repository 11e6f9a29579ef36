"""``apply_schedules``' plan, pure: which schedules a file creates, updates, keeps, deletes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from job_orchestrator.sdk import JobSpec, Schedule, ScheduleSpec
from job_orchestrator.sdk._schedules import plan

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def stored(name: str, **fields: Any) -> Schedule:
    data: dict[str, Any] = {
        "name": name,
        "cron": None,
        "every_seconds": 60,
        "timezone": "UTC",
        "job": {"type": "report", "payload": None},
        "overlap": "skip",
        "catchup_window_seconds": 60,
        "paused": False,
        "next_fire_at": None,
        "last_fire_at": None,
        "last_job_id": None,
        "created_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
        **fields,
    }
    return Schedule.from_dict(data)


def wanted(name: str, **fields: Any) -> ScheduleSpec:
    defaults: dict[str, Any] = {"job": {"type": "report", "payload": None}, "every_seconds": 60}
    return ScheduleSpec(name=name, **{**defaults, **fields})


def test_new_changed_same_and_missing_names_are_told_apart() -> None:
    specs = [wanted("a"), wanted("b", every_seconds=5), wanted("c")]
    existing = [stored("b"), stored("c"), stored("old")]
    result = plan(specs, existing, prune=False)
    assert (result.diff.created, result.diff.updated, result.diff.unchanged) == (
        ["a"],
        ["b"],
        ["c"],
    )
    assert result.diff.deleted == [] and result.deletes == []
    assert [name for name, _ in result.puts] == ["a", "b"]


def test_prune_deletes_only_the_names_the_file_no_longer_has() -> None:
    result = plan([wanted("c")], [stored("c"), stored("old"), stored("older")], prune=True)
    assert result.deletes == ["old", "older"] == result.diff.deleted
    assert result.puts == []


def test_an_open_paused_keeps_an_operators_pause_and_an_explicit_one_wins() -> None:
    kept = plan([wanted("c")], [stored("c", paused=True)], prune=False)
    assert kept.diff.unchanged == ["c"]
    resumed = plan([wanted("c", paused=False)], [stored("c", paused=True)], prune=False)
    assert resumed.diff.updated == ["c"] and resumed.puts[0][1]["paused"] is False


def test_a_changed_job_body_is_an_update_and_nulls_equal_omissions() -> None:
    assert plan([wanted("c", job={"type": "other"})], [stored("c")], prune=False).diff.updated
    same = wanted("c", job=JobSpec(type="report"))  # to_dict gives {"type", "payload": None}
    assert plan([same], [stored("c")], prune=False).diff.unchanged == ["c"]


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice: a"):
        plan([wanted("a"), wanted("a")], [], prune=False)


def test_a_job_the_server_stored_with_every_default_equals_the_short_form() -> None:
    full = {
        "type": "report",
        "payload": None,
        "queue": "default",
        "priority": 0,
        "max_attempts": 5,
        "retry": {"initial_seconds": 1, "multiplier": 2, "max_seconds": 300, "jitter": True},
        "lease_seconds": 30,
        "timeout_seconds": None,
        "some_later_field": None,
    }
    assert plan(
        [wanted("c", job={"type": "report"})], [stored("c", job=full)], prune=False
    ).diff.unchanged
    changed = {**full, "priority": 5}
    assert plan(
        [wanted("c", job={"type": "report"})], [stored("c", job=changed)], prune=False
    ).diff.updated
    partial_retry = {"type": "report", "retry": {"initial_seconds": 1.0}}
    assert plan(
        [wanted("c", job=partial_retry)], [stored("c", job=full)], prune=False
    ).diff.unchanged
