"""Chaos: N jobs through W worker processes while faults are injected, then the invariants.

Faults (each only where the suite owns what it breaks):
- SIGKILL a random quarter of the workers every few seconds, and start replacements;
- SIGKILL one of two API server processes sharing the database, and restart it;
- restart PostgreSQL mid-run, on a throwaway cluster of our own (initdb/pg_ctl in a temporary
  directory), while a probe records what the API answers during the outage;
- a poison job whose handler SIGKILLs its own worker (every worker that takes it dies).
Invariants: no lost job (every accepted job terminal), no duplicate effect in the ledger,
attempts numbered 1..n and never above max_attempts, no two overlapping leases, the poison job
in ``dlq`` after exactly ``max_attempts`` claims, no attempt burnt by the outage (every attempt
that did not succeed belongs to a worker we killed), and API answers during the outage 503,
never 500.
"""

from job_orchestrator.verify.chaos.scenario import Options, chaos

__all__ = ["Options", "chaos"]
