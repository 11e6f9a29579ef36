"""Every runtime SQL statement of the store, by topic, for one dialect.

Each state change is one statement guarded in its WHERE clause by the state it leaves (and, for a
leased job, by the lease token's hash and the lease's expiry); a statement that changes zero rows
means the guard did not hold, and the store turns that into a typed error. No SQL lives outside
the store package. A new feature adds a topic module here and one attribute to ``Queries``.
"""

from __future__ import annotations

from job_orchestrator.store.dialect import SqlDialect
from job_orchestrator.store.statements.jobs import JobStatements
from job_orchestrator.store.statements.keys_workers import KeyWorkerStatements
from job_orchestrator.store.statements.leasing import LeasingStatements
from job_orchestrator.store.statements.maintenance import MaintenanceStatements
from job_orchestrator.store.statements.queues import QueueStatements
from job_orchestrator.store.statements.readiness import ReadinessStatements
from job_orchestrator.store.statements.retention import RetentionStatements
from job_orchestrator.store.statements.schedules import ScheduleStatements
from job_orchestrator.store.statements.snooze import SnoozeStatements
from job_orchestrator.store.statements.worker_calls import WorkerCallStatements


class Queries:
    """The statements, compiled once per store (SQLAlchemy caches their compiled form)."""

    def __init__(self, d: SqlDialect) -> None:
        self.d = d
        self.jobs = JobStatements(d)
        self.leasing = LeasingStatements(d)
        self.worker_calls = WorkerCallStatements(d)
        self.maintenance = MaintenanceStatements(d)
        self.keys_workers = KeyWorkerStatements(d)
        self.schedules = ScheduleStatements(d)

        self.readiness = ReadinessStatements(d)
        self.queues = QueueStatements(d)
        self.snooze = SnoozeStatements(d)
        self.retention = RetentionStatements(d)
