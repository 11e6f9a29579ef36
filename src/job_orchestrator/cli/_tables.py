"""Rich tables for jobs and attempts."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from job_orchestrator.cli._common import short, when
from job_orchestrator.sdk import Attempt, Job

STATE_STYLE = {
    "pending": "yellow",
    "leased": "cyan",
    "succeeded": "green",
    "dlq": "red",
    "cancelled": "magenta",
}


def _error_message(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('type') or 'error'}: {error.get('message', '')}"
    return short(error)


def jobs_table(jobs: Sequence[Job], *, title: str | None = None) -> Table:
    table = Table("id", "queue", "type", "state", "attempts", "prio", "updated", "last error")
    table.title = title
    for job in jobs:
        style = STATE_STYLE.get(job.state.value, "")
        table.add_row(
            job.id,
            job.queue,
            job.type,
            f"[{style}]{job.state.value}[/]" if style else job.state.value,
            f"{job.attempts}/{job.max_attempts}",
            str(job.priority),
            when(job.updated_at),
            short(_error_message(job.last_error) if job.last_error else None, 50),
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
    table = Table("attempt", "worker", "leased", "finished", "outcome", "error", title="attempts")
    for attempt in attempts:
        table.add_row(
            str(attempt.attempt),
            attempt.worker_id,
            when(attempt.leased_at),
            when(attempt.finished_at),
            attempt.outcome or "running",
            short(_error_message(attempt.error) if attempt.error else None, 60),
        )
    return table


def show(*tables: Table) -> None:
    console = Console()
    for table in tables:
        console.print(table)
