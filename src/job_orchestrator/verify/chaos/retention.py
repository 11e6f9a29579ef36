"""Retention during chaos: the servers delete succeeded jobs 5 s after they finish, so the
cleaner works while workers, an API process and PostgreSQL are killed; the check proves that
no job it deleted was still pending or leased.

A watcher lists the queue's succeeded jobs every half second and reads each one's attempts the
first time it sees it (a job is kept at least 5 s: ten looks). At the end, a job the server no
longer knows must have been seen succeeded (its record and attempts then stand in for it in the
usual checks), or at least have applied its effect (ledger) if it finished and was deleted
while the API could not be asked; the servers' deleted total must match the vanished jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from job_orchestrator.verify.api import Api
from job_orchestrator.verify.checks import Findings
from job_orchestrator.verify.ledger import Record

RETAIN_SUCCEEDED = "5s"
SERVER_ENV = {
    "ORCHESTRATOR_RETAIN_SUCCEEDED": RETAIN_SUCCEEDED,
    "ORCHESTRATOR_CLEANER_INTERVAL": "1",
}
LOOK_EVERY = 0.5


class RetentionWatch:
    def __init__(self, api: Api, queue: str) -> None:
        self.api = api
        self.queue = queue
        self.seen: dict[str, dict[str, Any]] = {}  # succeeded jobs, as first seen
        self.histories: dict[str, list[dict[str, Any]]] = {}

    async def run(self) -> None:
        while True:
            with contextlib.suppress(httpx.TransportError, RuntimeError):
                await self.look()
            await asyncio.sleep(LOOK_EVERY)

    async def look(self) -> None:
        for job in await self.api.jobs(self.queue, state="succeeded"):
            if job["id"] in self.histories:
                continue
            with contextlib.suppress(RuntimeError):  # deleted meanwhile: 404
                self.histories[job["id"]] = await self.api.attempts(job["id"])
                self.seen[job["id"]] = job


def restore_deleted(
    watch: RetentionWatch,
    jobs: list[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    accepted: set[str],
    records: list[Record],
    deleted_total: int,
    f: Findings,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], list[Record], set[str], str]:
    """The final jobs with the deleted ones restored as seen; the ledger without the records of
    jobs deleted unseen (nothing to compare them with); the jobs accepted that remain to check
    (all but those deleted unseen, whose effect vouches for them); a note with the figures."""
    present = {job["id"] for job in jobs}
    vanished = accepted - present
    effects = {r.job for r in records if r.kind == "effect"}
    restored = [watch.seen[i] for i in sorted(vanished) if i in watch.seen]
    unseen = [i for i in sorted(vanished) if i not in watch.seen]
    for job_id in unseen:
        if job_id not in effects:
            f.add(f"job {job_id} was deleted, but never seen succeeded nor ran its effect: lost")
    if deleted_total != len(vanished):
        f.add(f"the cleaner counted {deleted_total} deleted jobs, but {len(vanished)} vanished")
    unseen_set = set(unseen)
    kept_records = [r for r in records if r.job not in unseen_set]
    all_histories = {
        **histories,
        **{i: watch.histories[i] for i in vanished if i in watch.histories},
    }
    note = (
        f"retention {RETAIN_SUCCEEDED}: {len(vanished)} succeeded jobs deleted during the run "
        f"({len(restored)} checked as seen before deletion, {len(unseen)} by their effect only)"
    )
    if not vanished:
        f.add("the cleaner deleted nothing during the chaos run: retention was not exercised")
    return [*jobs, *restored], all_histories, kept_records, accepted - unseen_set, note
