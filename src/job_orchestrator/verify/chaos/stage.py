"""Where chaos runs: two API servers on a throwaway PostgreSQL cluster of our own, or the
run's own server where a fault cannot be injected (SQLite, ``--url``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from job_orchestrator.verify.chaos.retention import SERVER_ENV
from job_orchestrator.verify.launcher import (
    PostgresDatabase,
    ServerProcess,
    ThrowawayCluster,
    admin,
)
from job_orchestrator.verify.scenarios import Run

if TYPE_CHECKING:  # a name for the type only: faults.py imports this module
    from job_orchestrator.verify.chaos.faults import Faults


@dataclass
class Stage:
    """Where the chaos runs: its API servers and, when ours, the PostgreSQL cluster."""

    urls: list[str]
    servers: list[ServerProcess] = field(default_factory=list)
    cluster: ThrowawayCluster | None = None
    database: PostgresDatabase | None = None

    @property
    def retention(self) -> bool:
        """The servers are ours, on a cluster of ours, started with a short retention."""
        return self.cluster is not None


def set_stage(run: Run, faults: Faults) -> Stage:
    if run.server is None:
        faults.skipped.append("API kill and PostgreSQL restart skipped: --url deployment")
        return Stage(urls=[run.url])
    if run.backend == "sqlite":
        faults.skipped.append("PostgreSQL restart n/a on SQLite (one API process)")
        return Stage(urls=[run.url], servers=[run.server])
    database_url = run.database_url or ""
    cluster: ThrowawayCluster | None = None
    try:
        cluster = ThrowawayCluster().__enter__()
        admin(cluster.dsn, 'CREATE DATABASE "jo_verify_chaos"')
        database_url = f"{cluster.dsn.rsplit('/', 1)[0]}/jo_verify_chaos"
    except Exception as error:
        if cluster is not None:
            cluster.destroy()
            cluster = None
        faults.skipped.append(f"PostgreSQL restart skipped: no throwaway cluster ({error})")
    # The cleaner works during the chaos (checked by chaos/retention.py), on a database of
    # its own only: on the run's database it would delete the other scenarios' jobs.
    env = SERVER_ENV if cluster is not None else None
    servers = [
        ServerProcess(run.processes, database_url, name=f"chaos-api-{i}", env=env) for i in (1, 2)
    ]
    try:
        servers[0].start(migrate=True)
        servers[1].start(migrate=False)
    except BaseException:
        for server in servers:
            server.kill()
        if cluster is not None:
            cluster.destroy()
        raise
    return Stage(urls=[s.url for s in servers], servers=servers, cluster=cluster)


def tear_down(run: Run, stage: Stage) -> None:
    if stage.cluster is None:
        return  # the servers are the run's own (SQLite, --url) or live on the run's database
    for server in stage.servers:
        if server.process is not None:
            run.processes.stop(server.process)
    stage.cluster.destroy()
