"""``apply_schedules``' plan: the difference between the schedules wanted and those stored.

Pure (no I/O), so both clients execute the same plan and the CLI's ``--dry-run`` shows exactly
what an apply would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from job_orchestrator.sdk.errors import APIError
from job_orchestrator.sdk.models import Schedule, ScheduleDiff, ScheduleSpec

PAGE_SIZE = 500  # the contract's largest page of GET /v1/schedules


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    puts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, PUT body)
    deletes: list[str] = field(default_factory=list)
    diff: ScheduleDiff = field(default_factory=ScheduleDiff)


# The enqueue defaults of the contract (api-v1.md, api-v1.1.md): a server may store a
# schedule's job with every field filled in, so a file that leaves a field out must compare
# equal to the default the server filled in.
JOB_DEFAULTS: dict[str, Any] = {
    "payload": None,
    "queue": "default",
    "priority": 0,
    "max_attempts": 5,
    "retry": {"initial_seconds": 1.0, "multiplier": 2.0, "max_seconds": 300.0, "jitter": True},
    "lease_seconds": 30.0,
    "timeout_seconds": None,
    "concurrency_key": None,
    "concurrency_limit": None,
    "depends_on": [],
    "on_dependency_failure": "cancel",
}
EMPTY: tuple[Any, ...] = (None, [], {})


def _with_defaults(value: Any, defaults: Any) -> Any:
    if not (isinstance(value, dict) and isinstance(defaults, dict)):
        return value
    filled = {k: _with_defaults(value.get(k, d), d) for k, d in defaults.items()}
    return {**value, **filled}


def _same(wanted: Any, stored: Any) -> bool:
    """Equal, where a member the server has and the file does not counts only if it holds
    something (a field added to the server later, left empty, is no difference)."""
    if isinstance(wanted, dict) and isinstance(stored, dict):
        return all(
            _same(wanted.get(k), stored.get(k)) if k in wanted else stored[k] in EMPTY
            for k in {*wanted, *stored}
        )
    return bool(wanted == stored)


def same(wanted: dict[str, Any], stored: dict[str, Any]) -> bool:
    job_wanted = _with_defaults(wanted.get("job") or {}, JOB_DEFAULTS)
    job_stored = _with_defaults(stored.get("job") or {}, JOB_DEFAULTS)
    rest = {k: v for k, v in wanted.items() if k != "job"}
    return _same(job_wanted, job_stored) and _same(
        rest, {k: v for k, v in stored.items() if k != "job"}
    )


def plan(specs: Sequence[ScheduleSpec], stored: Iterable[Schedule], *, prune: bool) -> SchedulePlan:
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"schedule names given twice: {', '.join(duplicates)}")
    existing = {s.name: s for s in stored}
    result = SchedulePlan()
    for spec in sorted(specs, key=lambda s: s.name):
        current = existing.get(spec.name)
        # An open ``paused`` keeps what the schedule has now (an operator's pause stays).
        body = spec.to_dict(paused=current.paused if current else False)
        if current is None:
            result.puts.append((spec.name, body))
            result.diff.created.append(spec.name)
        elif same(body, current.to_spec().to_dict()):
            result.diff.unchanged.append(spec.name)
        else:
            result.puts.append((spec.name, body))
            result.diff.updated.append(spec.name)
    if prune:
        for name in sorted(set(existing) - set(names)):
            result.deletes.append(name)
            result.diff.deleted.append(name)
    return result


def naming(error: APIError, name: str) -> APIError:
    """The same error, saying which schedule of an apply the server refused."""
    return type(error)(
        f"schedule {name}: {error.message}",
        code=error.code,
        status=error.status,
        details=error.details,
    )
