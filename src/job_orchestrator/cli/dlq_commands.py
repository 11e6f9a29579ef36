"""``orchestrator dlq …``: the dead-letter queue."""

from __future__ import annotations

from typing import Annotated

import typer

from job_orchestrator.cli._common import ApiKey, AsJson, Url, client, next_page_hint, print_json
from job_orchestrator.cli._tables import jobs_table, show

app = typer.Typer(help="Inspect and redrive the dead-letter queue.", no_args_is_help=True)

Queue = Annotated[str | None, typer.Option(help="Only this queue")]
JobType = Annotated[str | None, typer.Option("--type", help="Only this job type")]


@app.command("list")
def list_dlq(
    queue: Queue = None,
    job_type: JobType = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page")] = None,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Jobs in the dead-letter queue, newest first."""
    with client(url, api_key) as c:
        page = c.dlq(queue=queue, type=job_type, limit=limit, cursor=cursor)
    if as_json:
        print_json(page)
        return
    show(jobs_table(page.jobs, title="dead-letter queue"))
    if page.next_cursor:
        filters = {"--queue": queue, "--type": job_type, "--limit": limit if limit != 50 else None}
        typer.echo(next_page_hint("orchestrator dlq list", page.next_cursor, filters))


@app.command()
def redrive(
    queue: Queue = None,
    job_type: JobType = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many jobs")] = None,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Send DLQ jobs (matching the filters) back to pending."""
    with client(url, api_key) as c:
        count = c.redrive(queue=queue, type=job_type, limit=limit)
    if as_json:
        print_json({"redriven": count})
    else:
        typer.echo(f"redriven {count} job{'s' if count != 1 else ''}")
