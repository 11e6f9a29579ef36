"""Process-local counters (Prometheus) and the job counts read from the database."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from job_orchestrator.domain.models import ReapResult


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.enqueued = Counter("orchestrator_jobs_enqueued", "Jobs created", registry=r)
        self.leased = Counter("orchestrator_leases", "Leases handed out", registry=r)
        self.succeeded = Counter("orchestrator_completions", "Jobs completed", registry=r)
        self.failed = Counter("orchestrator_failures", "Attempts failed by workers", registry=r)
        self.retried = Counter("orchestrator_retries", "Jobs sent back to pending", registry=r)
        self.dead_lettered = Counter("orchestrator_dead_letters", "Jobs moved to dlq", registry=r)
        self.expired = Counter(
            "orchestrator_expiries", "Attempts ended by the reaper", ["reason"], registry=r
        )
        self.lease_wait = Histogram(
            "orchestrator_lease_wait_seconds",
            "Time from a job's run_at to its lease",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
            registry=r,
        )
        self.jobs = Gauge(
            "orchestrator_jobs", "Jobs by queue and state", ["queue", "state"], registry=r
        )

        # From the database (maintenance_counters), not this process: only the leader's
        # process deletes, and every process must report the same total.
        self.deleted_total = 0
        r.register(_DeletedJobs(self))

    def record_reap(self, result: ReapResult) -> None:
        self.expired.labels("lease_expired").inc(result.lease_expired)
        self.expired.labels("timed_out").inc(result.timed_out)
        self.retried.inc(result.retried)
        self.dead_lettered.inc(result.dead_lettered)

    def totals(self) -> dict[str, int]:
        expired = sum(
            self.expired.labels(reason)._value.get() for reason in ("lease_expired", "timed_out")
        )
        return {
            "enqueued": int(self.enqueued._value.get()),
            "leased": int(self.leased._value.get()),
            "succeeded": int(self.succeeded._value.get()),
            "failed": int(self.failed._value.get()),
            "retried": int(self.retried._value.get()),
            "dead_lettered": int(self.dead_lettered._value.get()),
            "expired": int(expired),
        }

    def set_job_counts(self, counts: list[tuple[str, str, int]]) -> None:
        self.jobs.clear()
        for queue, state, n in counts:
            self.jobs.labels(queue, state).set(n)

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)


class _DeletedJobs(Collector):
    """``orchestrator_jobs_deleted_total``: a counter whose value is read from the database."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "orchestrator_jobs_deleted",
            "Terminal jobs deleted by the cleaner after their retention period (all processes)",
            value=self._metrics.deleted_total,
        )
