"""`python -m bench.run`: job-orchestrator against its peers and the raw SQL floor.

Runs each system in turn on the same workload (see bench/common.py), prints
one table, writes the JSON results and draws the PNG of completed jobs over time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bench import ours, raw_sql_limit
from bench.common import ProgressFn, SystemResult, SystemUnderTest, Workload, run_system
from bench.peers.celery_peer import CeleryPeer
from bench.peers.pgqueuer_peer import PgQueuerPeer
from bench.peers.procrastinate_peer import ProcrastinatePeer
from bench.postgres import PG_HOST, PG_PORT, pg_unreachable_reason
from bench.report import draw_png, print_table, write_json

PEERS: dict[str, Callable[[Workload], SystemUnderTest]] = {
    "procrastinate": ProcrastinatePeer,
    "pgqueuer": PgQueuerPeer,
    "celery": CeleryPeer,
}
RESULTS_DIR = Path("bench-results")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument(
        "--backend",
        choices=("auto", "postgres", "sqlite"),
        default="auto",
        help="our system's database; auto = postgres when reachable",
    )
    p.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated peers to run (empty for none)"
    )
    p.add_argument("--jobs", type=int, default=20_000, help="batch-enqueued and processed jobs")
    p.add_argument("--single-jobs", type=int, default=2_000, help="jobs enqueued one by one")
    p.add_argument("--producers", type=int, default=20, help="concurrent single producers")
    p.add_argument("--workers", type=int, default=20, help="concurrent workers (job slots)")
    p.add_argument("--pickup-jobs", type=int, default=200, help="jobs for pickup latency")
    p.add_argument("--json", type=Path, default=RESULTS_DIR / "latest.json")
    p.add_argument("--plot", type=Path, default=RESULTS_DIR / "latest.png")
    p.add_argument("--only-peers", action="store_true", help="leave out job-orchestrator")
    p.add_argument("--no-raw", action="store_true", help="leave out the raw SQL limit")
    p.add_argument(
        "--ours-servers", type=int, default=1, help="job-orchestrator API server processes"
    )
    p.add_argument(
        "--ours-slots-per-process",
        type=int,
        default=ours.DEFAULT_SLOTS_PER_PROCESS,
        help="handler slots per job-orchestrator worker process (workers = total slots)",
    )
    p.add_argument(
        "--ours-prefetch",
        type=int,
        default=ours.DEFAULT_PREFETCH,
        help="the SDK Worker's prefetch per job-orchestrator worker process "
        "(jobs leased ahead of free slots)",
    )
    p.add_argument(
        "--preload",
        type=int,
        default=0,
        metavar="N",
        help="also run job-orchestrator with N finished jobs preloaded (e.g. 1000000), "
        "next to its empty-table run",
    )
    p.add_argument(
        "--soak",
        action="store_true",
        help="job-orchestrator alone on 200,000 jobs (unless --jobs says otherwise), "
        "reporting the server's memory over time",
    )
    p.add_argument(
        "--retention",
        action="store_true",
        help="instead: job-orchestrator's steady state with retention (bench/retention.py): "
        "200,000 jobs (unless --jobs says otherwise) with RETAIN_SUCCEEDED=30s, the jobs "
        "table's rows and bytes over the run, last fifth's throughput vs the first's",
    )
    args = p.parse_args(argv)
    unknown = set(_peer_names(args.peers)) - set(PEERS)
    if unknown:
        p.error(f"unknown peers: {', '.join(sorted(unknown))} (known: {', '.join(PEERS)})")
    return args


def _peer_names(raw: str) -> list[str]:
    return [name.strip() for name in raw.split(",") if name.strip()]


async def resolve_backend(console: Console, wanted: str) -> tuple[str, str | None]:
    """Our backend, and why PostgreSQL is unusable (None when it answers)."""
    pg_down = await pg_unreachable_reason()
    if wanted == "auto":
        wanted = "sqlite" if pg_down else "postgres"
        if pg_down:
            console.print(
                f"[yellow]PostgreSQL not reachable at {PG_HOST}:{PG_PORT}: running the SQLite "
                "profile (job-orchestrator only; PostgreSQL peers and the raw limit skip).[/]"
            )
    console.print(f"job-orchestrator backend: [bold]{wanted}[/]")
    return wanted, pg_down


async def run_ours(
    workload: Workload, backend: str, progress: ProgressFn, **options: Any
) -> SystemResult:
    system = ours.create(workload, backend, **options)
    if isinstance(system, str):
        return SystemResult(ours.NAME, ours.config(workload, backend), skipped=system)
    result = await run_system(system, progress)
    if isinstance(system, ours.OursSystem):
        ours.add_details(system, result)
    return result


async def main_async(args: argparse.Namespace) -> list[SystemResult]:
    # Wide enough for the table when the output is a file or a CI log.
    console = Console(width=None if sys.stdout.isatty() else 170)
    if args.soak:
        # The soak is about us: the peers and the raw floor stay out unless named.
        args.jobs = args.jobs if args.jobs != 20_000 else 200_000
        args.no_raw = True
        if args.peers == ",".join(PEERS):
            args.peers = ""
    workload = Workload(
        jobs=args.jobs,
        single_jobs=args.single_jobs,
        producers=args.producers,
        workers=args.workers,
        pickup_jobs=args.pickup_jobs,
    )
    backend, pg_down = await resolve_backend(console, args.backend)
    results: list[SystemResult] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:

        def tracker(name: str) -> ProgressFn:
            # The bar appears on the first report, so skipped systems get none.
            tasks: list[TaskID] = []

            def update(phase: str, done: int, total: int) -> None:
                if not tasks:
                    tasks.append(progress.add_task(name, total=None))
                progress.update(
                    tasks[0], description=f"{name}: {phase}", completed=done, total=total
                )

            return update

        if not args.only_peers:
            options: dict[str, Any] = {
                "servers": args.ours_servers,
                "slots_per_process": args.ours_slots_per_process,
                "prefetch": args.ours_prefetch,
            }
            results.append(await run_ours(workload, backend, tracker(ours.NAME), **options))
            if args.preload:
                label = f"{ours.NAME} +{args.preload:,} history"
                results.append(
                    await run_ours(
                        workload,
                        backend,
                        tracker(label),
                        preload=args.preload,
                        label=label,
                        **options,
                    )
                )
        for name in _peer_names(args.peers):
            results.append(await run_system(PEERS[name](workload), tracker(name)))
        if not args.no_raw:
            results.append(await raw_sql_limit.measure(workload, tracker(raw_sql_limit.NAME)))

    print_table(console, results)
    ours.print_notes(console, results, backend)
    write_json(
        args.json,
        results,
        workload,
        {"our_backend": backend, "postgres_reachable": pg_down is None},
    )
    console.print(f"results: {args.json}")
    if draw_png(args.plot, results):
        console.print(f"plot: {args.plot}")
    else:
        console.print("plot: nothing measured, no PNG drawn")
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.retention:
        run_retention(args)
        return
    asyncio.run(main_async(args))


def run_retention(args: argparse.Namespace) -> None:
    from bench import retention

    options = retention.parse_args([])
    if args.jobs != 20_000:  # the harness default: the steady state's own is 200,000
        options.jobs = args.jobs
    options.json = args.json.with_name("retention.json")
    retention.print_summary(retention.measure(options))
    print(f"samples: {options.json}")


if __name__ == "__main__":
    main()
