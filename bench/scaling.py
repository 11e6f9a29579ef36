"""`python -m bench.scaling`: job-orchestrator's processing jobs/s against concurrent workers.

For 1 and 2 API server processes, and 1, 2, 5, 10, 20, 50, 100 worker slots (split into
processes of at most `--slots-per-process`), enqueue through the batch API, ANALYZE, start the
workers and time first lease -> last completion exactly as `bench.run` does. Each point also
records where the CPU went (server, workers, database, everything else on the machine), so the
note can name what saturates: the machine's CPUs, the API server's event loop (one Python
process = at most one core), the database, or none (then the limit is latency: the jobs in
flight per round trip).

    .venv-bench/bin/python -m bench.scaling                 # PostgreSQL
    .venv-bench/bin/python -m bench.scaling --backend sqlite --servers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import Workload
from bench.cpu import CpuSampler
from bench.ours import DEFAULT_SLOTS_PER_PROCESS, OursSystem, split_slots, topology
from bench.postgres import pg_unreachable_reason
from bench.stats import ProbeReceiver

WORKERS = (1, 2, 5, 10, 20, 50, 100)
CORES = os.cpu_count() or 1


def jobs_for(workers: int, cap: int) -> int:
    """Enough jobs for a few seconds of work at each point, never more than `cap`."""
    return min(cap, max(1_000, 300 * workers))


def saturation(point: dict[str, Any], servers: int) -> str:
    """Which resource ran out at this point (a judgement from the CPU split)."""
    machine = point["machine_cores_busy"]
    server_per_proc = point["cpu_cores"]["server"] / servers
    if machine >= 0.9 * CORES:
        top = max(("server", "workers", "database"), key=lambda k: point["cpu_cores"][k])
        return f"machine CPU ({machine:.2f}/{CORES} cores; most in {top})"
    if server_per_proc >= 0.85:
        return f"API server event loop ({server_per_proc:.2f} core per process)"
    if point["cpu_cores"]["database"] >= 0.85 * CORES:
        return "database CPU"
    return f"none: latency-bound ({machine:.2f}/{CORES} cores busy)"


async def measure_point(sut: OursSystem, workers: int, jobs: int) -> dict[str, Any]:
    sut.probe = ProbeReceiver()
    sut.probe.start()
    try:
        await sut.purge()
        await sut.enqueue_batch(jobs)
        await sut.analyze()
        run = await sut.process(jobs, workers)
    finally:
        sut.workers.stop()
        sut.probe.stop()
    assert sut.sampler is not None
    start, end, secs = run.first_lease, run.last_completion, run.seconds
    parts = sut.sampler.parts_between(start, end)
    machine = sut.sampler.cpu_between(start, end, "machine")
    return {
        "workers": workers,
        "topology": topology(workers, sut.slots_per_process),
        "jobs": len(run.completions),
        "complete": run.complete,
        "process_jobs_per_s": round(len(run.completions) / secs, 1),
        "seconds": round(secs, 3),
        "cpu_cores": {k: round(v / secs, 2) for k, v in parts.items()},
        "machine_cores_busy": round(machine / secs, 2),
        "other_load_cores_busy": round((machine - sum(parts.values())) / secs, 2),
    }


async def run_servers(
    backend: str,
    servers: int,
    workers_list: list[int],
    cap: int,
    per_process: int,
    prefetch: int,
    console: Console,
) -> list[dict[str, Any]]:
    sut = OursSystem(
        Workload(jobs=cap),
        backend,
        servers=servers,
        slots_per_process=per_process,
        prefetch=prefetch,
    )
    if reason := await sut.unavailable_reason():
        console.print(f"[yellow]skipped: {reason}[/]")
        return []
    sut.sampler = CpuSampler(pg_database=sut.pg_database)
    points: list[dict[str, Any]] = []
    try:
        await sut.setup()
        sut.sampler.start()
        for workers in workers_list:
            point = await measure_point(sut, workers, jobs_for(workers, cap))
            point["servers"] = servers
            point["saturates"] = saturation(point, servers)
            console.print(
                f"  {servers} API proc, {workers:>3} slots ({point['topology']}): "
                f"{point['process_jobs_per_s']:>9,.0f} jobs/s  cores {point['cpu_cores']} "
                f"machine {point['machine_cores_busy']}  -> {point['saturates']}"
            )
            points.append(point)
    finally:
        sut.workers.stop()
        sut.sampler.stop()
        await sut.teardown()
    return points


def print_table(console: Console, points: list[dict[str, Any]]) -> None:
    table = Table(title="job-orchestrator: processing jobs/s by concurrent worker slots")
    for col in (
        "API procs",
        "worker slots",
        "topology",
        "jobs/s",
        "server cores",
        "worker cores",
        "db cores",
        "machine busy",
        "other load",
        "saturates",
    ):
        table.add_column(col, overflow="fold")
    for p in points:
        c = p["cpu_cores"]
        table.add_row(
            str(p["servers"]),
            str(p["workers"]),
            p["topology"],
            f"{p['process_jobs_per_s']:,.0f}",
            f"{c['server']:.2f}",
            f"{c['workers']:.2f}",
            f"{c['database']:.2f}",
            f"{p['machine_cores_busy']:.2f}/{CORES}",
            f"{p['other_load_cores_busy']:.2f}",
            p["saturates"],
        )
    console.print(table)


def draw(path: Path, points: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for servers in sorted({p["servers"] for p in points}):
        mine = [p for p in points if p["servers"] == servers]
        ax.plot(
            [p["workers"] for p in mine],
            [p["process_jobs_per_s"] for p in mine],
            "o-",
            label=f"{servers} API server process{'es' if servers > 1 else ''}",
        )
    ax.set_xscale("log")
    ax.set_xticks(WORKERS, [str(w) for w in WORKERS])
    ax.set_xlabel("concurrent worker slots (total)")
    ax.set_ylabel("processing jobs/s")
    ax.set_title(f"job-orchestrator scaling with workers ({CORES} CPUs, shared machine)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


async def main_async(args: argparse.Namespace) -> None:
    console = Console(width=None if os.isatty(1) else 170)
    backend = args.backend
    if backend == "auto":
        backend = "sqlite" if await pg_unreachable_reason() else "postgres"
    console.print(f"job-orchestrator backend: [bold]{backend}[/]")
    workers_list = [int(w) for w in args.workers.split(",")]
    points: list[dict[str, Any]] = []
    for servers in [int(s) for s in args.servers.split(",")]:
        points += await run_servers(
            backend,
            servers,
            workers_list,
            args.jobs,
            args.slots_per_process,
            args.prefetch,
            console,
        )
    if not points:
        return
    print_table(console, points)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    doc = {"backend": backend, "cpus": CORES, "prefetch": args.prefetch, "points": points}
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    draw(args.plot, points)
    console.print(f"results: {args.json}\nplot: {args.plot}")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    p.add_argument("--backend", choices=("auto", "postgres", "sqlite"), default="auto")
    p.add_argument("--workers", default=",".join(map(str, WORKERS)))
    p.add_argument("--servers", default="1,2", help="API server process counts to compare")
    p.add_argument("--jobs", type=int, default=10_000, help="most jobs per point")
    p.add_argument("--slots-per-process", type=int, default=DEFAULT_SLOTS_PER_PROCESS)
    p.add_argument(
        "--prefetch",
        type=int,
        default=0,
        help="the SDK's prefetch per worker process (default 0: the curve is about slots; "
        "with prefetch, lease batches and not slots set no-op throughput)",
    )
    p.add_argument("--json", type=Path, default=Path("bench-results/scaling.json"))
    p.add_argument("--plot", type=Path, default=Path("bench-results/scaling.png"))
    asyncio.run(main_async(p.parse_args()))


__all__ = ["main", "split_slots"]

if __name__ == "__main__":
    main()
