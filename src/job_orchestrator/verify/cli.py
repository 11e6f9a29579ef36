"""``orchestrator verify``: the verification suite as a command (typer sub-app ``verify_app``).

    orchestrator verify                      # all: the six scenarios and a quick chaos run
    orchestrator verify lease_expiry --backend sqlite
    orchestrator verify chaos --jobs 2000 --workers 8 --duration 120
    orchestrator verify all --url http://127.0.0.1:8000   # an existing deployment

Exits 1 when any scenario finds a violation, after printing the table.
"""

from __future__ import annotations

import signal
import sys
import time
from enum import StrEnum
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from job_orchestrator.verify.runner import ChaosOptions, execute
from job_orchestrator.verify.scenarios import REGISTRY, Result, Sizes

console = Console(width=None if sys.stdout.isatty() else 150)


class Backend(StrEnum):
    postgres = "postgres"
    sqlite = "sqlite"


verify_app = typer.Typer(
    help="Verify the orchestrator's guarantees with real servers, workers and faults.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Verify this deployment instead of "
        "starting a server (fault scenarios that need to kill "
        "the server or the database are skipped).",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Start the server on this database instead of a fresh one."
    ),
]
Backends = Annotated[
    list[Backend] | None,
    typer.Option("--backend", help="postgres and/or sqlite (repeat); default: both."),
]
Quick = Annotated[bool, typer.Option("--quick", help="Reduced sizes (what the tests run).")]
Keep = Annotated[bool, typer.Option("--keep", help="Keep the work directory (logs, ledgers).")]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every finally: each process we started is stopped


def table(results: list[Result]) -> Table:
    out = Table(title="job-orchestrator verification")
    for column in (
        "scenario",
        "backend",
        "result",
        "jobs",
        "faults",
        "violations",
        "seconds",
        "figures / reason",
    ):
        out.add_column(
            column,
            justify="right" if column in ("jobs", "faults", "violations", "seconds") else "left",
        )
    style = {"pass": "green", "FAIL": "bold red", "skip": "yellow"}
    for r in results:
        out.add_row(
            r.scenario,
            r.backend,
            f"[{style[r.status]}]{r.status}[/]",
            str(r.jobs),
            str(r.faults),
            str(r.violations),
            f"{r.seconds:.1f}",
            r.notes,
        )
    return out


def report(result: Result) -> None:
    mark = {"pass": "[green]pass[/]", "FAIL": "[bold red]FAIL[/]", "skip": "[yellow]skip[/]"}
    console.print(
        f"{mark[result.status]} {result.scenario} ({result.backend}) "
        f"{result.seconds:.1f} s  {result.notes}"
    )
    for message in result.messages:
        console.print(f"    [red]violation:[/] {message}", highlight=False)
    if result.violations > len(result.messages):
        console.print(f"    … and {result.violations - len(result.messages)} more")


def run(
    names: list[str],
    *,
    url: str | None,
    database_url: str | None,
    backends: list[Backend] | None,
    quick: bool,
    keep: bool,
    chaos: ChaosOptions | None = None,
) -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    chosen = [b.value for b in backends] if backends else ["postgres", "sqlite"]
    if database_url and not backends:
        chosen = ["sqlite" if database_url.startswith("sqlite") else "postgres"]
    sizes = Sizes.quick() if quick else Sizes()
    started = time.monotonic()
    results, workdir = execute(
        names,
        chosen,
        sizes=sizes,
        chaos=chaos or ChaosOptions(),
        url=url,
        database_url=database_url,
        keep=keep,
        report=report,
    )
    console.print(table(results))
    failed = [r for r in results if r.status == "FAIL"]
    console.print(
        f"{len(results)} checks in {time.monotonic() - started:.0f} s: "
        f"{len(failed)} failed, {sum(r.status == 'skip' for r in results)} skipped"
    )
    if failed or keep:
        console.print(f"logs and ledgers: {workdir}")
    if failed:
        raise typer.Exit(1)


SIX = list(REGISTRY)


@verify_app.callback()
def default(
    ctx: typer.Context,
    url: Url = None,
    database_url: DatabaseUrl = None,
    backend: Backends = None,
    quick: Quick = False,
    keep: Keep = False,
) -> None:
    """Without a command: ``all``."""
    if ctx.invoked_subcommand is None:
        run(
            [*SIX, "chaos"],
            url=url,
            database_url=database_url,
            backends=backend,
            quick=quick,
            keep=keep,
            chaos=ChaosOptions(),
        )


@verify_app.command("all")
def all_(
    url: Url = None,
    database_url: DatabaseUrl = None,
    backend: Backends = None,
    quick: Quick = False,
    keep: Keep = False,
    chaos_jobs: Annotated[int | None, typer.Option("--chaos-jobs")] = None,
    chaos_workers: Annotated[int | None, typer.Option("--chaos-workers")] = None,
    chaos_duration: Annotated[float | None, typer.Option("--chaos-duration")] = None,
) -> None:
    """The six scenarios, then a quick chaos profile (on PostgreSQL)."""
    run(
        [*SIX, "chaos"],
        url=url,
        database_url=database_url,
        backends=backend,
        quick=quick,
        keep=keep,
        chaos=ChaosOptions(chaos_jobs, chaos_workers, chaos_duration),
    )


def _single(name: str) -> None:
    def command(
        url: Url = None,
        database_url: DatabaseUrl = None,
        backend: Backends = None,
        quick: Quick = False,
        keep: Keep = False,
    ) -> None:
        run([name], url=url, database_url=database_url, backends=backend, quick=quick, keep=keep)

    command.__doc__ = REGISTRY[name].summary
    verify_app.command(name)(command)


for _name in SIX:
    _single(_name)


@verify_app.command("chaos")
def chaos(
    url: Url = None,
    database_url: DatabaseUrl = None,
    backend: Backends = None,
    quick: Quick = False,
    keep: Keep = False,
    jobs: Annotated[int | None, typer.Option("--jobs", help="jobs to run (default 2000)")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="worker processes (8)")] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="fault-injection window and time limit, s (150)"),
    ] = None,
) -> None:
    """Jobs through workers under SIGKILLs, an API server kill and a PostgreSQL restart."""
    run(
        ["chaos"],
        url=url,
        database_url=database_url,
        backends=backend,
        quick=quick,
        keep=keep,
        chaos=ChaosOptions(jobs, workers, duration),
    )


def main(argv: list[str] | None = None) -> None:
    verify_app(args=argv if argv is not None else sys.argv[1:], prog_name="orchestrator verify")


if __name__ == "__main__":
    main()
