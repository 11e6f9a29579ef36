"""Readiness: which pending jobs may be leased, as named SQL predicates over a ``jobs`` row.

The one definition (docs/design/readiness.md): the claim's candidate query is ``state =
'pending'`` AND every rule here, and ``rule_columns`` evaluates each rule as a column for given
jobs (``explain``, the queue overview), so the two cannot disagree. A later rule (dependencies,
concurrency keys, queue limits) is one more entry of ``READINESS_RULES``.
"""

from __future__ import annotations

from sqlalchemy import TextClause, text

from job_orchestrator.store.dialect import SqlDialect


def run_at_due(d: SqlDialect) -> str:
    """Its run_at has come (a delay, a retry's backoff, a snooze)."""
    return f"jobs.run_at <= {d.now}"


def queue_not_paused(_d: SqlDialect) -> str:
    """Its queue is not paused. ``queues`` is tiny: PostgreSQL evaluates this once per claim as
    a hashed subplan, and the claim still walks jobs_pending_claim_idx in order (measured at
    1,000,000 pending jobs; see the commit that introduced it). ``name`` is the primary key,
    never NULL, so NOT IN has no NULL trap."""
    return "jobs.queue NOT IN (SELECT name FROM queues WHERE paused)"


# rule name -> fragment; the names are the reason codes ``explain`` reports for a false rule.
READINESS_RULES = {
    "run_at_in_future": run_at_due,
    "queue_paused": queue_not_paused,
}


def ready(d: SqlDialect) -> str:
    """Every rule at once: what the claim (and the count of ready jobs) filters on."""
    return " AND ".join(f"({rule(d)})" for rule in READINESS_RULES.values())


def some_asked_queue_not_paused(asked: str = ":asked_queues", count: str = ":asked_count") -> str:
    """A claim on queues that are all paused can lease nothing: implied by ``queue_not_paused``
    for every candidate, but with no reference to the row, so the database evaluates it once
    (PostgreSQL: an InitPlan and a one-time filter) and skips the index walk. Without it a claim
    on a paused queue walked its whole backlog, rejecting each job by the per-row rule: 776 ms
    (generic plan) to 959 ms (custom) for 500,000 pending jobs (bench/explain_paused_claim.py).
    ``asked`` is the claim's queue list (distinct), ``count`` its length."""
    return f"(SELECT count(*) FROM queues WHERE paused AND name IN {asked}) < {count}"


class ReadinessStatements:
    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        # One boolean column per rule (1: the rule lets the job run), for the jobs :ids.
        columns = ", ".join(
            f"CASE WHEN {rule(d)} THEN 1 ELSE 0 END AS {name}"
            for name, rule in READINESS_RULES.items()
        )
        self.rule_columns: TextClause = text(
            f"SELECT jobs.id, jobs.state, {columns} FROM jobs WHERE jobs.id = :job_id"
        )
