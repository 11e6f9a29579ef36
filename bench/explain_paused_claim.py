"""EXPLAIN ANALYZE of the claim with queue pause, at 1,000,000 pending jobs (PostgreSQL).

    .venv/bin/python -m bench.explain_paused_claim [--jobs 1000000]

Builds a throwaway database: N pending jobs split over queue ``work`` (claimed, not paused) and
queue ``held`` (paused), plus a few other paused and unpaused queue rows. Prints the plan of the
server's own claim statement (store/statements/leasing.py, compiled as the server runs it),
generic and custom, for a claim on ``work`` and one on ``held``, inside a rolled-back
transaction so nothing is leased.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

import asyncpg
from sqlalchemy.dialects import postgresql

from bench.postgres import drop_database, pg_dsn, recreate_database
from job_orchestrator.store.dialect import POSTGRESQL
from job_orchestrator.store.migrate import migrate
from job_orchestrator.store.raw_statements import RawStatements
from job_orchestrator.store.statements import Queries

DATABASE = "bench_explain_paused"


async def main_async(jobs: int, keep: bool) -> None:
    await recreate_database(DATABASE)
    await asyncio.to_thread(migrate, pg_dsn(DATABASE))
    conn = await asyncpg.connect(pg_dsn(DATABASE))
    try:
        half = jobs // 2
        await conn.execute(
            "INSERT INTO jobs (queue, type, payload, state, priority, attempts, max_attempts, "
            "run_at, created_at, updated_at, lease_seconds, retry_initial_seconds, "
            "retry_multiplier, retry_max_seconds, retry_jitter, cancel_requested) "
            "SELECT CASE WHEN g <= $1 THEN 'held' ELSE 'work' END, 't', '{}', 'pending', "
            "g % 3, 0, 5, now() - interval '1 hour' + g * interval '1 ms', now(), now(), "
            "30, 1, 2, 300, true, false FROM generate_series(1, $2) g",
            half,
            jobs,
        )
        await conn.execute(
            "INSERT INTO queues (name, paused, updated_at) VALUES ('held', true, now()), "
            "('other-paused', true, now()), ('idle', false, now())"
        )
        await conn.execute("VACUUM ANALYZE")
        statement = Queries(POSTGRESQL).leasing.claim(types=False)
        raw = RawStatements(postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
        tokens = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(100)]
        for asked in (["work"], ["held"], ["held", "work"]):
            queue = "+".join(asked)
            params = {
                "queues": asked,
                "asked_queues": asked,
                "asked_count": len(asked),
                "limit": 100,
                "token_hashes": tokens,
                "worker_id": "explain",
                "now": None,
            }
            sql, accessors = raw._form(statement, params)
            args = [params[name] if i is None else params[name][i] for name, i in accessors]
            for mode in ("force_generic_plan", "force_custom_plan"):
                # Rolled back: EXPLAIN ANALYZE really leases the 100 jobs.
                transaction = conn.transaction()
                await transaction.start()
                try:
                    await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                    await conn.execute(f"PREPARE claim AS {sql}")
                    values = ", ".join(_literal(arg) for arg in args)
                    rows = await conn.fetch(
                        f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE claim({values})"
                    )
                finally:
                    await transaction.rollback()
                    await conn.execute("DEALLOCATE claim")  # PREPARE is not transactional
                print(f"\n=== claim on {queue!r} ({mode}), {jobs:,} pending jobs ===")
                for row in rows:
                    print(row[0])
    finally:
        await conn.close()
        if not keep:
            await drop_database(DATABASE)


def _literal(value: object) -> str:
    """EXPLAIN EXECUTE takes no bind parameters: the values written out (ours, not input)."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.explain_paused_claim")
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = p.parse_args()
    asyncio.run(main_async(args.jobs, args.keep))


if __name__ == "__main__":
    main()
