"""Which async HTTP client should the worker SDK use? Measure, don't guess.

Starts a trivial FastAPI app under uvicorn on loopback (a separate process, so the client and
the server do not share a CPU-bound event loop), then drives it with httpx.AsyncClient and with
aiohttp.ClientSession: C concurrent tasks, keep-alive, a small JSON POST each (the shape of a
lease/complete call). Prints requests/s for each, best of R rounds.

    .venv/bin/python bench/bench_http_clients.py --seconds 5 --concurrency 20 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import orjson

from job_orchestrator.verify.launcher import Processes, free_port, wait_ready

APP = """
from fastapi import FastAPI, Request
from starlette.responses import Response
app = FastAPI()

@app.post("/echo")
async def echo(request: Request) -> Response:
    await request.body()
    return Response(b'{"ok":true}', media_type="application/json")

@app.get("/ping")
async def ping() -> Response:
    return Response(b'{"ok":true}', media_type="application/json")
"""

BODY = orjson.dumps({"job_id": "12345", "lease_token": "x" * 43, "result": {"n": 1}})
HEADERS = {"content-type": "application/json"}


@contextlib.contextmanager
def server(workers: int) -> Iterator[str]:
    """The app under uvicorn, started by the project's one launcher."""
    port = free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    app_file = os.path.join(here, "_bench_http_app.py")
    with open(app_file, "w") as handle:
        handle.write(APP)
    command = [
        sys.executable, "-m", "uvicorn", "_bench_http_app:app", "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--workers", str(workers),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as logs, Processes(Path(logs)) as processes:
            process = processes.spawn(command, log_name="uvicorn.log", env={"PYTHONPATH": here})
            wait_ready(url, process, 10.0, path="/ping")
            yield url
    finally:
        os.unlink(app_file)


async def drive(call: Callable[[], Awaitable[None]], concurrency: int, seconds: float) -> float:
    count = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            await call()
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def bench_httpx(url: str, concurrency: int, seconds: float) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits) as client:

        async def call() -> None:
            response = await client.post("/echo", content=BODY, headers=HEADERS)
            orjson.loads(response.content)

        return await drive(call, concurrency, seconds)


async def bench_aiohttp(url: str, concurrency: int, seconds: float) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def call() -> None:
            async with session.post("/echo", data=BODY, headers=HEADERS) as response:
                orjson.loads(await response.read())

        return await drive(call, concurrency, seconds)


def bench_httpx_sync(url: str, seconds: float) -> float:
    count = 0
    with httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            orjson.loads(client.post("/echo", content=BODY, headers=HEADERS).content)
            count += 1
        return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--server-workers", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"httpx.AsyncClient": [], "aiohttp.ClientSession": []}
    with server(args.server_workers) as url:
        asyncio.run(bench_aiohttp(url, args.concurrency, 1.0))  # warm up the server
        for _ in range(args.rounds):
            # Alternate the order so neither client always gets the warmer server.
            results["httpx.AsyncClient"].append(
                asyncio.run(bench_httpx(url, args.concurrency, args.seconds))
            )
            results["aiohttp.ClientSession"].append(
                asyncio.run(bench_aiohttp(url, args.concurrency, args.seconds))
            )
        sync_rate = bench_httpx_sync(url, min(args.seconds, 3.0))
    print(f"{args.concurrency} concurrent, keep-alive, JSON POST, {args.seconds:g} s per round")
    for name, rates in results.items():
        print(f"  {name:24s} best {max(rates):8.0f} req/s  (rounds: {[round(r) for r in rates]})")
    print(f"  {'httpx.Client (1 thread)':24s}      {sync_rate:8.0f} req/s")


if __name__ == "__main__":
    main()
