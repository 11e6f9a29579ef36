"""Snooze: the lease holder puts its job back to pending for later, the attempt not counted."""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.common import JOB_COLUMNS, leased_and_valid


class SnoozeStatements:
    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        # Guarded like complete (still leased by this token, deadline not passed). The attempt
        # is given back (attempts - 1), so snoozing never leads to the DLQ.
        self.snooze = text(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, "
            f"run_at = {d.plus_seconds(now, ':delay')}, "
            f"heartbeat_details = CASE WHEN :set_details THEN {d.json('details')} "
            "ELSE heartbeat_details END, "
            "lease_token_hash = NULL, lease_expires_at = NULL, deadline = NULL, "
            f"updated_at = {now} WHERE id = :job_id AND {leased_and_valid(now)} "
            f"RETURNING {JOB_COLUMNS}"
        )
        self.finish_attempt = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = 'snoozed' "
            "WHERE job_id = :job_id AND outcome IS NULL"
        )
