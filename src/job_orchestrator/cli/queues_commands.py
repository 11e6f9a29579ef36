"""``orchestrator queues …``: the queues, their counts, pause and resume."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from job_orchestrator.cli._common import ApiKey, AsJson, Url, client, print_json
from job_orchestrator.cli._tables import show
from job_orchestrator.sdk import Queue

app = typer.Typer(help="List queues, pause and resume them.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The queue's name")]
COUNTED = ("pending", "leased", "succeeded", "dlq", "cancelled")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def queues_table(queues: Sequence[Queue]) -> Table:
    table = Table("queue", "state", *COUNTED, "oldest ready", "rate/s", "concurrency")
    for queue in queues:
        table.add_row(
            queue.name,
            "[red]paused[/]" if queue.paused else "[green]active[/]",
            *(str(queue.counts.get(state, 0)) for state in COUNTED),
            _age(queue.oldest_ready_seconds),
            "" if queue.rate_limit_per_second is None else f"{queue.rate_limit_per_second:g}",
            "" if queue.concurrency_limit is None else str(queue.concurrency_limit),
        )
    return table


@app.command("list")
def list_queues(url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Every queue that holds jobs or has settings, with its counts by state."""
    with client(url, api_key) as c:
        queues = c.queues()
    if as_json:
        print_json(queues)
    else:
        show(queues_table(queues))


@app.command()
def pause(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Stop leasing from the queue (enqueues are accepted; running jobs finish)."""
    with client(url, api_key) as c:
        queue = c.pause_queue(name)
    if as_json:
        print_json(queue)
    else:
        typer.echo(f"paused {queue.name} ({queue.counts.get('pending', 0)} pending)")


@app.command()
def resume(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Lease from the queue again."""
    with client(url, api_key) as c:
        queue = c.resume_queue(name)
    if as_json:
        print_json(queue)
    else:
        typer.echo(f"resumed {queue.name} ({queue.counts.get('pending', 0)} pending)")
