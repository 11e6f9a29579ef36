"""Schedules: their rows, and the scheduler's step (due schedules, batch key insert, advance).

The step's writes are set-based, one statement per batch of schedules whatever its size: a
thousand schedules firing every second are a handful of statements a second, not a thousand.
"""

from __future__ import annotations

from sqlalchemy import text

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.common import listed

SCHEDULE_COLUMNS = (
    "name, cron, every_seconds, timezone, job, overlap, catchup_window_seconds, paused, "
    "next_fire_at, last_fire_at, last_job_id, created_at, updated_at"
)
_QUALIFIED = ", ".join(f"s.{c.strip()}" for c in SCHEDULE_COLUMNS.split(","))
# A job that still runs (for overlap: skip); a deleted one (retention) counts as done.
_LAST_JOB_ACTIVE = "CASE WHEN j.state IN ('pending', 'leased') THEN 1 ELSE 0 END"


class ScheduleStatements:
    """Schedules: put, read, list, delete, pause/resume, and the scheduler's step."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        now = d.now
        self.get = text(f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = :name")
        self.get_for_update = text(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = :name{d.for_update}"
        )
        # The definition is replaced whole; the fire history (last_*) and created_at stay.
        self.upsert = text(
            f"INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES (:name, :cron, :every_seconds, "
            f":timezone, {d.json('job')}, :overlap, :catchup_window_seconds, :paused, "
            f":next_fire_at, NULL, NULL, {now}, {now}) "
            "ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, "
            "every_seconds = excluded.every_seconds, timezone = excluded.timezone, "
            "job = excluded.job, overlap = excluded.overlap, "
            "catchup_window_seconds = excluded.catchup_window_seconds, "
            "paused = excluded.paused, next_fire_at = excluded.next_fire_at, "
            f"updated_at = excluded.updated_at RETURNING {SCHEDULE_COLUMNS}"
        )
        self.list_first = text(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name LIMIT :limit"
        )
        self.list_after = text(
            f"SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name > :after "
            "ORDER BY name LIMIT :limit"
        )
        self.delete = text("DELETE FROM schedules WHERE name = :name RETURNING name")
        # Guarded by the state it leaves: a pause and a resume racing cannot both apply.
        self.set_paused = text(
            f"UPDATE schedules SET paused = :paused, next_fire_at = :next_fire_at, "
            f"updated_at = {now} WHERE name = :name AND paused = :was_paused "
            f"RETURNING {SCHEDULE_COLUMNS}"
        )
        # The due schedules of one batch, locked (PostgreSQL: another server's step skips them
        # and takes the next ones; SQLite: BEGIN IMMEDIATE serializes steps), with whether the
        # job of their last fire time still runs.
        lock = " FOR UPDATE OF s SKIP LOCKED" if d.name == "postgresql" else ""
        self.due = text(
            f"SELECT {_QUALIFIED}, {_LAST_JOB_ACTIVE} AS last_job_active FROM schedules s "
            "LEFT JOIN jobs j ON j.id = s.last_job_id "
            "WHERE NOT s.paused AND s.next_fire_at IS NOT NULL AND s.next_fire_at <= :now "
            f"ORDER BY s.next_fire_at, s.name LIMIT :limit{lock}"
        )
        self.earliest_next_fire_at = text(
            "SELECT min(next_fire_at) AS earliest FROM schedules "
            "WHERE NOT paused AND next_fire_at IS NOT NULL"
        )
        if d.name == "postgresql":
            keys_source = (
                "unnest(CAST(:keys AS text[]), CAST(:job_ids AS bigint[]), "
                "CAST(:fingerprints AS text[])) AS u(key, job_id, fingerprint)"
            )
            advance_source = (
                "unnest(CAST(:names AS text[]), CAST(:old_next AS timestamptz[]), "
                "CAST(:new_next AS timestamptz[]), CAST(:last_fire AS timestamptz[]), "
                "CAST(:last_job AS bigint[])) AS u(name, old_next, new_next, last_fire, last_job)"
            )
        else:
            keys_source = (
                "(SELECT json_extract(value, '$.key') AS key, "
                "json_extract(value, '$.job_id') AS job_id, "
                "json_extract(value, '$.fingerprint') AS fingerprint FROM json_each(:rows)) AS u"
            )
            advance_source = (
                "(SELECT json_extract(value, '$.name') AS name, "
                "json_extract(value, '$.old_next') AS old_next, "
                "json_extract(value, '$.new_next') AS new_next, "
                "json_extract(value, '$.last_fire') AS last_fire, "
                "json_extract(value, '$.last_job') AS last_job FROM json_each(:rows)) AS u"
            )
        # Every key of the batch in one statement; a key another transaction stored first is
        # missing from RETURNING, and the step rolls back and retries (the key is the last
        # line of defence against a second job for one fire time).
        self.insert_keys = text(
            "INSERT INTO job_idempotency_keys (key, job_id, fingerprint, created_at) "
            f"SELECT u.key, u.job_id, u.fingerprint, {now} FROM {keys_source} WHERE TRUE "
            "ON CONFLICT (key) DO NOTHING RETURNING key"
        )
        # Compare-and-set on next_fire_at (the first guard): a schedule whose fire time another
        # step already processed, or that was paused or replaced meanwhile, is not advanced.
        self.advance = text(
            f"UPDATE schedules SET next_fire_at = u.new_next, "
            "last_fire_at = COALESCE(u.last_fire, schedules.last_fire_at), "
            "last_job_id = COALESCE(u.last_job, schedules.last_job_id) "
            f"FROM {advance_source} WHERE schedules.name = u.name "
            "AND schedules.next_fire_at = u.old_next AND NOT schedules.paused "
            "RETURNING schedules.name"
        )
        self.find_keys = listed(
            d,
            f"SELECT key, job_id FROM job_idempotency_keys WHERE {d.any_of('key', 'keys', 'text')}",
            "keys",
        )
