"""The lease holder's calls: heartbeat, complete, fail, release."""

from __future__ import annotations

from sqlalchemy import TextClause, text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.common import (
    JOB_COLUMNS,
    JOB_COLUMNS_QUALIFIED,
    leased_and_valid,
)


class WorkerCallStatements:
    """The lease holder's calls: heartbeat, complete, fail, release."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        self.heartbeat = text(
            "UPDATE jobs SET "
            "lease_expires_at = CASE WHEN state = 'leased' "
            f"THEN {d.plus_seconds(now, 'lease_seconds')} ELSE lease_expires_at END, "
            f"heartbeat_details = CASE WHEN :set_details THEN {d.json('details')} "
            "ELSE heartbeat_details END, "
            f"updated_at = {now} "
            "WHERE id = :job_id AND lease_token_hash = :token_hash AND ("
            f"({leased_and_valid(now)}) OR state = 'cancelled') "
            "RETURNING state, lease_expires_at, cancel_requested"
        )
        self.finish_attempt = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = :outcome, "
            f"error = {d.json('error')} WHERE job_id = :job_id AND outcome IS NULL"
        )
        self.select_for_failure = text(
            "SELECT attempts, max_attempts, retry_initial_seconds, retry_multiplier, "
            "retry_max_seconds, retry_jitter FROM jobs "
            f"WHERE id = :job_id AND {leased_and_valid(now)}{d.for_update}"
        )
        # Used by fail and by the reaper: the caller decided (pure code) what comes next, and the
        # guard (still leased by the same token) proves the inputs of that decision still hold.
        self.end_attempt = text(
            "UPDATE jobs SET state = :next_state, "
            f"run_at = CASE WHEN :next_state = 'pending' THEN {d.plus_seconds(now, ':delay')} "
            "ELSE run_at END, "
            f"finished_at = CASE WHEN :next_state = 'dlq' THEN {now} ELSE NULL END, "
            f"last_error = {d.json('error')}, lease_token_hash = NULL, lease_expires_at = NULL, "
            f"deadline = NULL, updated_at = {now} "
            "WHERE id = :job_id AND state = 'leased' AND lease_token_hash = :token_hash "
            f"RETURNING {JOB_COLUMNS}"
        )
        # A lease handed back unstarted is undone: the attempt it counted is given back and
        # its (never started) attempt row removed, so attempts stay 1..n without gaps.
        self.release_lease = text(
            "UPDATE jobs SET state = 'pending', attempts = attempts - 1, "
            "lease_token_hash = NULL, lease_expires_at = NULL, deadline = NULL, "
            f"updated_at = {now} WHERE id = :job_id AND {leased_and_valid(now)} "
            "RETURNING queue"
        )
        self.forget_running_attempt = text(
            "DELETE FROM job_attempts WHERE job_id = :job_id AND outcome IS NULL"
        )
        self.sqlite_complete = self._sqlite_complete(full=True)
        self.sqlite_complete_light = self._sqlite_complete(full=False)
        self.insert_completions = text(
            "INSERT INTO job_completions (job_id, idempotency_key, result, attempt, completed_at) "
            "SELECT json_extract(value, '$.id'), json_extract(value, '$.key'), "
            f"json_extract(value, '$.result'), json_extract(value, '$.attempt'), {now} "
            "FROM json_each(:items)"
        )
        self.finish_attempts_succeeded = text(
            f"UPDATE job_attempts SET finished_at = {now}, outcome = 'succeeded' "
            "WHERE outcome IS NULL AND job_id IN (SELECT value FROM json_each(:ids))"
        )
        # PostgreSQL: a batch of heartbeats in one statement, each row guarded by its token
        # (:n is the item's position, to match the answers back).
        self.heartbeat_many = text(
            "WITH input AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:token_hashes AS text[]), CAST(:set_details AS boolean[]), "
            "CAST(:details AS text[])) WITH ORDINALITY AS t(id, token_hash, set_details, "
            "details, n)) "
            "UPDATE jobs SET "
            "lease_expires_at = CASE WHEN jobs.state = 'leased' "
            f"THEN {d.plus_seconds(now, 'jobs.lease_seconds')} ELSE jobs.lease_expires_at END, "
            "heartbeat_details = CASE WHEN input.set_details "
            "THEN CAST(input.details AS json) ELSE jobs.heartbeat_details END, "
            f"updated_at = {now} "
            "FROM input WHERE jobs.id = input.id AND jobs.lease_token_hash = input.token_hash "
            f"AND (({leased_and_valid(now, token='input.token_hash', table='jobs')}) "
            "OR jobs.state = 'cancelled') "
            "RETURNING input.n, jobs.lease_expires_at, jobs.cancel_requested"
        )
        self.complete_many = self._complete_many(full=True)
        self.complete_many_light = self._complete_many(full=False)

    def _complete_many(self, *, full: bool) -> TextClause:
        """PostgreSQL only: complete a batch in one statement, each row guarded by its token."""
        now = self.d.now
        guarded = leased_and_valid(now, token="input.token_hash", table="jobs")
        return text(
            "WITH input AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:token_hashes AS text[]), CAST(:keys AS text[]), CAST(:results AS text[]), "
            "CAST(:set_details AS boolean[]), CAST(:details AS text[])) "
            "AS t(id, token_hash, key, result, set_details, details)), "
            f"done AS (UPDATE jobs SET state = 'succeeded', finished_at = {now}, "
            f"updated_at = {now}, lease_token_hash = NULL, lease_expires_at = NULL, "
            "deadline = NULL, heartbeat_details = CASE WHEN input.set_details "
            "THEN CAST(input.details AS json) ELSE jobs.heartbeat_details END "
            "FROM input WHERE jobs.id = input.id AND "
            f"{guarded} "
            f"RETURNING {JOB_COLUMNS_QUALIFIED if full else 'jobs.id, jobs.attempts'}, "
            "input.key AS completion_key, input.result AS completion_result), "
            "stored AS (INSERT INTO job_completions "
            "(job_id, idempotency_key, result, attempt, completed_at) "
            f"SELECT id, completion_key, CAST(completion_result AS json), attempts, {now} "
            "FROM done), "
            # The running attempts by job id from done, as an index condition: joined to done
            # instead, stale statistics (no running attempt when last analyzed) made the planner
            # scan every running attempt and compare each with every completed job, ~3 ms for
            # 200 leased jobs and a batch of 55 once the table held a million finished attempts.
            f"finished AS (UPDATE job_attempts SET finished_at = {now}, outcome = 'succeeded' "
            "WHERE job_attempts.job_id = ANY(ARRAY(SELECT id FROM done)) "
            "AND job_attempts.outcome IS NULL) "
            + ("SELECT * FROM done" if full else "SELECT id, completion_key FROM done")
        )

    def _sqlite_complete(self, *, full: bool) -> TextClause:
        """SQLite: the guarded UPDATE of a whole batch (completions and attempts follow)."""
        now = self.d.now
        guarded = leased_and_valid(now, token="input.token_hash", table="jobs")
        return text(
            f"UPDATE jobs SET state = 'succeeded', finished_at = {now}, updated_at = {now}, "
            "lease_token_hash = NULL, lease_expires_at = NULL, deadline = NULL, "
            # details: the handler's last progress, as JSON text (a JSON string in the item)
            "heartbeat_details = CASE WHEN input.set_details THEN input.details "
            "ELSE jobs.heartbeat_details END "
            "FROM (SELECT json_extract(value, '$.id') AS id, "
            "json_extract(value, '$.token_hash') AS token_hash, "
            "json_extract(value, '$.set_details') AS set_details, "
            "json_extract(value, '$.details') AS details FROM json_each(:items)) AS input "
            f"WHERE jobs.id = input.id AND {guarded} "
            f"RETURNING {JOB_COLUMNS if full else 'id, attempts'}"
        )
