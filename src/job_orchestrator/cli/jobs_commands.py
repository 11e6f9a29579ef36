"""``orchestrator jobs …``: submit, list, show, cancel, retry, wait."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from job_orchestrator.cli._common import (
    ApiKey,
    AsJson,
    Url,
    client,
    next_page_hint,
    parse_json,
    parse_zoned_time,
    print_json,
)
from job_orchestrator.cli._tables import attempts_table, job_table, jobs_table, show
from job_orchestrator.sdk import Client, JobState, NotFound, RetryPolicy, WaitTimeout

app = typer.Typer(help="Submit, inspect, cancel and retry jobs.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="Job id")]
DEFAULT_LIMIT = 50


@app.command()
def submit(
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="Job type")],
    payload: Annotated[
        str, typer.Option(help="JSON payload; @file.json reads a file, - reads stdin")
    ] = "null",
    queue: Annotated[str | None, typer.Option(help="Queue [default: default]")] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9, help="0 runs first")] = None,
    delay: Annotated[float | None, typer.Option(min=0, help="Run after this many seconds")] = None,
    run_at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="Run at this RFC 3339 time, with its zone: 2030-01-01T09:00:00Z or ...+02:00",
        ),
    ] = None,
    max_attempts: Annotated[int | None, typer.Option(min=1)] = None,
    lease_seconds: Annotated[float | None, typer.Option(help="Lease length")] = None,
    timeout: Annotated[float | None, typer.Option(help="Execution timeout in seconds")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Submit at most once per key")] = None,
    retry_initial: Annotated[float | None, typer.Option(help="Backoff: first delay (s)")] = None,
    retry_multiplier: Annotated[float | None, typer.Option(help="Backoff: multiplier")] = None,
    retry_max: Annotated[float | None, typer.Option(help="Backoff: longest delay (s)")] = None,
    jitter: Annotated[bool, typer.Option(help="Backoff: full jitter")] = True,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it")] = False,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Submit a job; prints its id (or, with --wait, its result)."""
    options: dict[str, Any] = {
        "queue": queue,
        "priority": priority,
        "delay_seconds": delay,
        "run_at": parse_zoned_time(run_at, "--run-at"),
        "max_attempts": max_attempts,
        "lease_seconds": lease_seconds,
        "timeout_seconds": timeout,
        "idempotency_key": idempotency_key,
    }
    if any(v is not None for v in (retry_initial, retry_multiplier, retry_max)) or not jitter:
        defaults = RetryPolicy()
        options["retry"] = RetryPolicy(
            initial_seconds=retry_initial or defaults.initial_seconds,
            multiplier=retry_multiplier or defaults.multiplier,
            max_seconds=retry_max or defaults.max_seconds,
            jitter=jitter,
        )
    given = {k: v for k, v in options.items() if v is not None}
    body = parse_json(payload, "--payload")
    with client(url, api_key) as c:
        job = c.enqueue(job_type, body, **given)
        if wait:
            result = c.wait(job.id)
            print_json({"job_id": job.id, "result": result} if as_json else result)
            return
    if as_json:
        print_json(job)
    else:
        typer.echo(f"submitted job {job.id} ({job.type} on queue {job.queue})")


@app.command("list")
def list_jobs(
    queue: Annotated[str | None, typer.Option(help="Only this queue")] = None,
    state: Annotated[JobState | None, typer.Option(help="Only this state")] = None,
    job_type: Annotated[str | None, typer.Option("--type", help="Only this job type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of a previous page")] = None,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List jobs, newest first."""
    with client(url, api_key) as c:
        page = c.list_jobs(
            queue=queue,
            state=state.value if state else None,
            type=job_type,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        print_json(page)
        return
    show(jobs_table(page.jobs))
    if page.next_cursor:
        filters = {
            "--queue": queue,
            "--state": state.value if state else None,
            "--type": job_type,
            "--limit": limit if limit != DEFAULT_LIMIT else None,
        }
        typer.echo(next_page_hint("orchestrator jobs list", page.next_cursor, filters))


@app.command("show")
def show_job(
    job_id: JobId, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """A job with its attempts."""
    with client(url, api_key) as c:
        job = c.get(job_id)
        attempts = c.attempts(job_id)
    if as_json:
        print_json({"job": job, "attempts": attempts})
        return
    show(job_table(job), attempts_table(attempts))


@app.command()
def cancel(job_id: JobId, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Cancel a pending or running job (a running handler is told on its next heartbeat)."""
    with client(url, api_key) as c:
        job = c.cancel(job_id)
    if as_json:
        print_json(job)
    else:
        typer.echo(f"job {job.id} is {job.state.value}")


@app.command()
def retry(job_id: JobId, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Send a DLQ or cancelled job back to pending with a fresh attempt budget."""
    with client(url, api_key) as c:
        job = c.retry(job_id)
    if as_json:
        print_json(job)
    else:
        typer.echo(f"job {job.id} is {job.state.value} again")


@app.command("wait")
def wait_job(
    job_id: JobId,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds (exit status 4)")
    ] = None,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Wait for a job to finish and print its result (exit 3 if it failed or was cancelled)."""
    with client(url, api_key) as c:
        try:
            result = c.wait(job_id, timeout)
        except WaitTimeout as error:
            raise WaitTimeout(error.message + unserved_hint(c, job_id)) from None
    print_json({"job_id": job_id, "result": result} if as_json else result)


def unserved_hint(c: Client, job_id: str) -> str:
    """Why a pending job may never finish: no worker asked for its type lately."""
    job = c.get(job_id)
    if job.state is not JobState.PENDING:
        return ""
    try:
        serving = c.workers(queue=job.queue, type=job.type, seen_within_seconds=60)
    except NotFound:  # a server without GET /v1/workers
        return ""
    if serving:
        return ""
    return (
        f"; no worker has asked for type {job.type!r} on queue {job.queue!r} in the last "
        "60 s: start one whose handlers include it"
    )
