"""``orchestrator schedules …``: apply a schedules file, list, show, pause, resume, trigger,
delete. The file format is in ``_schedule_file`` and docs/schedules.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from job_orchestrator.cli._common import ApiKey, AsJson, Url, client, fail, print_json, when
from job_orchestrator.cli._schedule_file import ScheduleFileError, load
from job_orchestrator.cli._tables import show
from job_orchestrator.sdk import Schedule, ScheduleDiff

app = typer.Typer(
    help="Periodic jobs: apply a schedules file, inspect, pause, resume, trigger.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Schedule name")]
EXIT_BAD_FILE = 2  # like a bad option: the file never reached the server


def _when_text(schedule: Schedule) -> str:
    if schedule.cron is not None:
        zone = "" if schedule.timezone == "UTC" else f" ({schedule.timezone})"
        return f"cron {schedule.cron}{zone}"
    return f"every {schedule.every_seconds} s"


def schedules_table(schedules: list[Schedule]) -> Table:
    table = Table("name", "when", "job type", "state", "next fire", "last fire", "last job")
    for s in schedules:
        table.add_row(
            s.name,
            _when_text(s),
            str(s.job.get("type", "")),
            "[yellow]paused[/]" if s.paused else "active",
            when(s.next_fire_at),
            when(s.last_fire_at),
            s.last_job_id or "",
        )
    return table


def schedule_table(s: Schedule) -> Table:
    table = Table("field", "value", show_header=False, title=f"schedule {s.name}")
    rows = {
        "when": _when_text(s),
        "timezone": s.timezone,
        "overlap": s.overlap,
        "catch-up window": f"{s.catchup_window_seconds} s",
        "state": "paused" if s.paused else "active",
        "next fire": when(s.next_fire_at) or ("(paused)" if s.paused else ""),
        "last fire": when(s.last_fire_at),
        "last job": s.last_job_id or "",
        "job": ", ".join(f"{k}={v!r}" for k, v in s.job.items()),
        "created": when(s.created_at),
        "updated": when(s.updated_at),
    }
    for name, value in rows.items():
        if value:
            table.add_row(name, value)
    return table


def _print_diff(diff: ScheduleDiff, dry_run: bool) -> None:
    verbs = {
        "created": ("+", "would create" if dry_run else "created"),
        "updated": ("~", "would update" if dry_run else "updated"),
        "deleted": ("-", "would delete" if dry_run else "deleted"),
        "unchanged": ("=", "unchanged"),
    }
    for group, (mark, verb) in verbs.items():
        for name in getattr(diff, group):
            typer.echo(f"{mark} {name} ({verb})")
    counts = ", ".join(f"{len(getattr(diff, g))} {g}" for g in verbs)
    typer.echo(f"{'dry run, nothing changed: ' if dry_run else ''}{counts}")


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="Schedules file (TOML)", show_default=False)],
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the schedules the file does not name")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference, change nothing")
    ] = False,
    url: Url = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Create and update schedules to match FILE (TOML, a schedules.NAME table each)."""
    try:
        specs = load(file)
    except ScheduleFileError as error:
        fail(str(error), EXIT_BAD_FILE)
    with client(url, api_key) as c:
        diff = c.apply_schedules(specs, prune=prune, dry_run=dry_run)
    if as_json:
        print_json({**_diff_dict(diff), "dry_run": dry_run})
    else:
        _print_diff(diff, dry_run)


def _diff_dict(diff: ScheduleDiff) -> dict[str, list[str]]:
    return {
        "created": diff.created,
        "updated": diff.updated,
        "unchanged": diff.unchanged,
        "deleted": diff.deleted,
    }


@app.command("list")
def list_schedules(url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Every schedule, by name."""
    with client(url, api_key) as c:
        schedules = list(c.list_schedules())
    if as_json:
        print_json({"schedules": schedules})
    elif schedules:
        show(schedules_table(schedules))
    else:
        typer.echo("no schedules")


@app.command("show")
def show_schedule(
    name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """One schedule: its spec, next and last fire, last job."""
    with client(url, api_key) as c:
        schedule = c.get_schedule(name)
    if as_json:
        print_json(schedule)
    else:
        show(schedule_table(schedule))


@app.command()
def pause(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Fire nothing until resumed."""
    with client(url, api_key) as c:
        schedule = c.pause_schedule(name)
    if as_json:
        print_json(schedule)
    else:
        typer.echo(f"schedule {schedule.name} is paused")


@app.command()
def resume(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Fire again from the next fire time (the paused time is not caught up)."""
    with client(url, api_key) as c:
        schedule = c.resume_schedule(name)
    if as_json:
        print_json(schedule)
    else:
        typer.echo(f"schedule {schedule.name} is active, next fire {when(schedule.next_fire_at)}")


@app.command()
def trigger(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Enqueue the schedule's job now, outside its fire times."""
    with client(url, api_key) as c:
        job = c.trigger_schedule(name)
    if as_json:
        print_json(job)
    else:
        typer.echo(f"enqueued job {job.id} ({job.type} on queue {job.queue})")


@app.command()
def delete(name: Name, url: Url = None, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Delete it; the jobs it already enqueued are untouched."""
    with client(url, api_key) as c:
        c.delete_schedule(name)
    if as_json:
        print_json({"deleted": name})
    else:
        typer.echo(f"deleted schedule {name}")
