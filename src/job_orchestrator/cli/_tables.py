"""Rich tables for jobs and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from job_orchestrator.cli._common import short, short_when, when
from job_orchestrator.domain.budgets import budget_numbers
from job_orchestrator.sdk import Attempt, Job

STATE_STYLE = {
    "pending": "yellow",
    "leased": "cyan",
    "succeeded": "green",
    "dlq": "red",
    "cancelled": "magenta",
}

# One space between columns and no outer border: every column counts at 80 columns.
COMPACT: dict[str, Any] = {
    "box": box.SIMPLE_HEAD,
    "padding": (0, 1, 0, 0),
    "show_edge": False,
    "pad_edge": False,
}


def _error_message(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('type') or 'error'}: {error.get('message', '')}"
    return short(error)


def _cut(value: str) -> Text:
    """A cell kept on one line, cut with an ellipsis when its column is narrowed."""
    return Text(value, no_wrap=True, overflow="ellipsis")


def jobs_table(jobs: Sequence[Job], *, title: str | None = None) -> Table:
    # At 80 columns id, state, tries and time keep their text whole (no_wrap columns are never
    # narrowed); the error, then the type and the queue give way, cut rather than wrapped.
    table = Table(title=title, **COMPACT)
    table.add_column("id", no_wrap=True)
    table.add_column("queue", max_width=16)
    table.add_column("type", max_width=28)
    table.add_column("state", no_wrap=True)
    table.add_column("tries", no_wrap=True)
    table.add_column("prio", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("last error")
    for job in jobs:
        style = STATE_STYLE.get(job.state.value, "")
        table.add_row(
            job.id,
            _cut(job.queue),
            _cut(job.type),
            Text(job.state.value, style=style),
            f"{job.attempts}/{job.max_attempts}",
            str(job.priority),
            short_when(job.updated_at),
            _cut(short(_error_message(job.last_error) if job.last_error else None, 120)),
        )
    return table


def job_table(job: Job) -> Table:
    table = Table("field", "value", show_header=False, title=f"job {job.id}")
    rows = {
        "queue": job.queue,
        "type": job.type,
        "state": job.state.value,
        "priority": str(job.priority),
        "attempts": f"{job.attempts}/{job.max_attempts}",
        "run at": when(job.run_at),
        "created": when(job.created_at),
        "finished": when(job.finished_at),
        "lease expires": when(job.lease_expires_at),
        "lease seconds": f"{job.lease_seconds:g}",
        "timeout seconds": "" if job.timeout_seconds is None else f"{job.timeout_seconds:g}",
        "idempotency key": job.idempotency_key or "",
        "payload": short(job.payload, 200),
        "result": short(job.result, 200),
        "last error": _error_message(job.last_error) if job.last_error else "",
        "heartbeat details": short(job.heartbeat_details, 200),
        "cancel requested": "yes" if job.cancel_requested else "",
    }
    for name, value in rows.items():
        if value:
            table.add_row(name, value)
    return table


def attempts_table(attempts: Sequence[Attempt]) -> Table:
    table = Table(title="attempts", **COMPACT)
    per_budget = budget_numbers([a.attempt for a in attempts])
    several = bool(per_budget) and per_budget[-1] > 1
    if several:
        table.add_column("budget", no_wrap=True)
    for name in ("attempt", "leased", "finished", "outcome"):
        table.add_column(name, no_wrap=True)
    table.add_column("worker", max_width=24)
    table.add_column("error")
    for index, attempt in enumerate(attempts):
        budget = per_budget[index]
        begins = index > 0 and budget != per_budget[index - 1]
        if begins:
            table.add_section()
        cells: list[str | Text] = [
            str(attempt.attempt),
            short_when(attempt.leased_at),
            short_when(attempt.finished_at),
            attempt.outcome or "running",
            _cut(attempt.worker_id),
            _cut(short(_error_message(attempt.error) if attempt.error else None, 120)),
        ]
        if several:
            label = f"{budget} (redriven)" if begins else (str(budget) if index == 0 else "")
            cells.insert(0, label)
        table.add_row(*cells)
    return table


def show(*tables: Table) -> None:
    console = Console()
    for table in tables:
        console.print(table)
