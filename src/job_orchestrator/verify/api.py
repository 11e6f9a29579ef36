"""Plain HTTP to the API (httpx): what a checker needs, with the status code of every answer.

The workers go through the SDK; the checker deliberately does not, so a bug in the SDK's
parsing cannot hide a bug in the server.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import orjson


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Api:
    def __init__(self, url: str, *, timeout: float = 30.0, api_key: str | None = None) -> None:
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32),
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        content = None if body is None else orjson.dumps(body)
        response = await self.http.request(method, path, content=content, params=params)
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            data = response.text
        return response.status_code, data

    async def ok(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        status, data = await self.call(method, path, body, params)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data

    # ---- producers ----------------------------------------------------------------------------
    async def enqueue_batch(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        created: list[dict[str, Any]] = []
        for start in range(0, len(jobs), 1000):
            data = await self.ok("POST", "/v1/jobs/batch", {"jobs": jobs[start : start + 1000]})
            created.extend(data["jobs"])
        return created

    async def job(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.ok("GET", f"/v1/jobs/{job_id}")
        return data

    async def attempts(self, job_id: str) -> list[dict[str, Any]]:
        data = await self.ok("GET", f"/v1/jobs/{job_id}/attempts")
        return sorted(data["attempts"], key=lambda a: int(a["attempt"]))

    async def jobs(
        self, queue: str, state: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every job of ``queue`` (all pages), or the first ``limit``."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10_000):  # bounded: 5 million jobs
            params: dict[str, Any] = {"queue": queue, "limit": 500}
            if state:
                params["state"] = state
            if cursor:
                params["cursor"] = cursor
            data = await self.ok("GET", "/v1/jobs", params=params)
            out.extend(data["jobs"])
            cursor = data.get("next_cursor")
            if not cursor or (limit is not None and len(out) >= limit):
                break
        return out

    async def busy(self, queue: str) -> int:
        """Jobs of ``queue`` not yet terminal (pending or leased), counted up to 500 each."""
        total = 0
        for state in ("pending", "leased"):
            data = await self.ok(
                "GET", "/v1/jobs", params={"queue": queue, "state": state, "limit": 500}
            )
            total += len(data["jobs"])
        return total

    async def wait_quiet(self, queue: str, within: float) -> bool:
        """True once every job of ``queue`` is terminal; False after ``within`` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                # Two queries (pending, then leased) can both miss a job moving between them
                # (a lease reaped back to pending): confirm over the whole queue, in one pass.
                # Terminal states are absorbing, so a job seen terminal stays terminal.
                if await self.busy(queue) == 0 and all(
                    job["state"] in ("succeeded", "dlq", "cancelled")
                    for job in await self.jobs(queue)
                ):
                    return True
            except (httpx.TransportError, RuntimeError):
                pass  # a server restarting or a database outage: ask again
            await asyncio.sleep(0.3)
        return False

    async def histories(
        self, jobs: list[dict[str, Any]], concurrency: int = 16
    ) -> dict[str, list[dict[str, Any]]]:
        limit = asyncio.Semaphore(concurrency)

        async def one(job_id: str) -> tuple[str, list[dict[str, Any]]]:
            async with limit:
                return job_id, await self.attempts(job_id)

        pairs = await asyncio.gather(*(one(job["id"]) for job in jobs))
        return dict(pairs)

    # ---- a worker by hand (for the stale-lease checks) ----------------------------------------
    async def lease(
        self, worker_id: str, queue: str, max_jobs: int = 1, wait: float = 0
    ) -> list[dict[str, Any]]:
        data = await self.ok(
            "POST",
            "/v1/workers/lease",
            {
                "worker_id": worker_id,
                "queues": [queue],
                "max_jobs": max_jobs,
                "wait_seconds": wait,
            },
        )
        leases: list[dict[str, Any]] = data["leases"]
        return leases
