"""Lease + complete throughput of a running server, straight over HTTP (no SDK).

Enqueues N no-op jobs through the batch endpoint, then W concurrent loops lease up to B jobs
each and complete them (batch endpoint when --batch-complete, else one call per job).

    python bench/measure_lease_complete.py --url http://127.0.0.1:8000 --jobs 20000 --workers 20
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import aiohttp
import orjson


async def enqueue(session: aiohttp.ClientSession, url: str, jobs: int, queue: str) -> float:
    started = time.perf_counter()
    for offset in range(0, jobs, 1000):
        batch = [{"type": "noop", "queue": queue} for _ in range(min(1000, jobs - offset))]
        async with session.post(f"{url}/v1/jobs/batch", data=orjson.dumps({"jobs": batch})) as r:
            assert r.status == 201, await r.text()
    return jobs / (time.perf_counter() - started)


async def work(
    session: aiohttp.ClientSession, url: str, queue: str, max_jobs: int, batch_complete: bool
) -> int:
    done = 0
    worker_id = f"measure-{uuid.uuid4().hex[:6]}"
    while True:
        body = {"worker_id": worker_id, "queues": [queue], "max_jobs": max_jobs}
        async with session.post(f"{url}/v1/workers/lease", data=orjson.dumps(body)) as r:
            leases = orjson.loads(await r.read())["leases"]
        if not leases:
            return done
        if batch_complete:
            items = [
                {"job_id": x["job_id"], "lease_token": x["lease_token"], "result": None}
                for x in leases
            ]
            payload = orjson.dumps({"completions": items})
            async with session.post(f"{url}/v1/workers/complete", data=payload) as r:
                results = orjson.loads(await r.read())["results"]
                assert all(x["status"] == 200 for x in results), results
        else:
            for lease in leases:
                payload = orjson.dumps({"lease_token": lease["lease_token"], "result": None})
                async with session.post(
                    f"{url}/v1/jobs/{lease['job_id']}/complete", data=payload
                ) as r:
                    assert r.status == 200, await r.text()
        done += len(leases)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--max-jobs", type=int, default=10)
    parser.add_argument("--batch-complete", action="store_true")
    args = parser.parse_args()
    queue = f"measure-{uuid.uuid4().hex[:8]}"
    connector = aiohttp.TCPConnector(limit=args.workers + 5)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        enqueue_rate = await enqueue(session, args.url, args.jobs, queue)
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                work(session, args.url, queue, args.max_jobs, args.batch_complete)
                for _ in range(args.workers)
            )
        )
        elapsed = time.perf_counter() - started
    assert sum(counts) == args.jobs, (sum(counts), args.jobs)
    print(f"batch enqueue:    {enqueue_rate:,.0f} jobs/s")
    print(
        f"lease+complete:   {args.jobs / elapsed:,.0f} jobs/s "
        f"({args.workers} workers, max_jobs={args.max_jobs}, "
        f"{'batch' if args.batch_complete else 'single'} complete)"
    )


if __name__ == "__main__":
    asyncio.run(main())
