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


def _comparable(value: Any) -> Any:
    """A JSON value with null members dropped: an omitted option and an explicit null are the
    same request."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def same(wanted: dict[str, Any], stored: dict[str, Any]) -> bool:
    return bool(_comparable(wanted) == _comparable(stored))


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
