"""The schedules scenario's check, pure: it finds a duplicate, a miss and a wrong key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from job_orchestrator.verify.checks import Findings
from job_orchestrator.verify.scenarios.schedules import check_schedule, key_time

CREATED = datetime(2025, 3, 30, 0, 59, 58, 500_000, tzinfo=UTC)
PAUSED = CREATED + timedelta(seconds=6)  # fire times 59:59 .. 01:00:02 must have a job


def job(t: datetime, *, key: str | None = None, lag: float = 0.1) -> dict[str, Any]:
    return {
        "id": str(int(t.timestamp())),
        "scheduled_for": key_time(t),
        "idempotency_key": key or f"schedule:s:{key_time(t)}",
        "created_at": (t + timedelta(seconds=lag)).isoformat(),
    }


def fires(n: int) -> list[datetime]:
    first = datetime(2025, 3, 30, 0, 59, 59, tzinfo=UTC)
    return [first + timedelta(seconds=i) for i in range(n)]


def test_one_job_per_fire_time_passes() -> None:
    findings = Findings()
    lags = check_schedule("s", [job(t) for t in fires(4)], CREATED, PAUSED, findings)
    assert findings.count == 0 and len(lags) == 4


def test_a_duplicate_a_miss_and_a_wrong_key_are_each_found() -> None:
    first, second, third, fourth = fires(4)
    jobs = [job(first), job(first), job(third, key="other"), job(fourth)]
    findings = Findings()
    check_schedule("s", jobs, CREATED, PAUSED, findings)
    text = "\n".join(findings.violations)
    assert "yielded 2 jobs" in text
    assert f"fire time {key_time(second)} has no job" in text
    assert "idempotency key 'other'" in text
    assert findings.count == 3


def test_a_job_before_its_fire_time_is_found() -> None:
    findings = Findings()
    check_schedule("s", [job(t, lag=-0.5) for t in fires(4)], CREATED, PAUSED, findings)
    assert findings.count == 4 and "before its fire time" in findings.violations[0]
