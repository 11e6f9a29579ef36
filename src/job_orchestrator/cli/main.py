"""``orchestrator``: the command line.

``server``, ``migrate`` and ``keys`` come from ``server_commands`` (they import server modules
only when run); ``worker``, ``jobs`` and ``dlq`` use the SDK over HTTP.
"""

from __future__ import annotations

from importlib.metadata import version as package_version
from typing import Annotated

import typer

from job_orchestrator.cli import (
    dlq_commands,
    jobs_commands,
    queues_commands,
    schedules_commands,
    server_commands,
)
from job_orchestrator.cli.worker_command import worker
from job_orchestrator.verify.cli import verify_app

app = typer.Typer(
    name="orchestrator",
    help="job-orchestrator: lease-based job orchestration.",
    no_args_is_help=True,
    add_completion=False,
    # One-line errors come from the commands; a traceback would hide them.
    pretty_exceptions_enable=False,
    # Click's plain help: flags read as flags (rich help shows `--json <bool>`).
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"orchestrator (job-orchestrator) {package_version('job-orchestrator')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """job-orchestrator: lease-based job orchestration."""


server_commands.register(app)
app.command("worker")(worker)
app.add_typer(jobs_commands.app, name="jobs")
app.add_typer(dlq_commands.app, name="dlq")
app.add_typer(schedules_commands.app, name="schedules")

app.add_typer(queues_commands.app, name="queues")
app.add_typer(verify_app, name="verify")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
