"""`orchestrator server` and `orchestrator migrate`: the server side of the CLI.

Server modules are imported inside the commands, so the worker/producer CLI stays light.
"""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=["ORCHESTRATOR_DATABASE_URL", "DATABASE_URL"],
        help="postgresql://… or sqlite:///path; default: an embedded SQLite file here.",
        show_default=False,
    ),
]


def server(
    database_url: DatabaseUrl = None,
    host: Annotated[str, typer.Option(envvar="ORCHESTRATOR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="ORCHESTRATOR_PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(envvar="ORCHESTRATOR_WORKERS", help="API server processes")
    ] = 1,
    reaper_interval: Annotated[
        float, typer.Option(envvar="ORCHESTRATOR_REAPER_INTERVAL", help="seconds")
    ] = 1.0,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate on start (default: yes for SQLite, no for PostgreSQL).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="ORCHESTRATOR_LOG_LEVEL")] = "info",
) -> None:
    """Run the API server (the control plane)."""
    from job_orchestrator.api.server import serve
    from job_orchestrator.settings import Settings

    overrides = {
        "host": host,
        "port": port,
        "workers": workers,
        "reaper_interval": reaper_interval,
        "log_level": log_level,
    }
    if database_url:
        overrides["database_url"] = database_url
    if migrate is not None:
        overrides["auto_migrate"] = migrate
    serve(Settings(**overrides))  # type: ignore[arg-type]


def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from job_orchestrator.store.migrate import migrate as run_migrations
    from job_orchestrator.store.urls import normalize_database_url

    url = normalize_database_url(database_url)
    try:
        run_migrations(url)
    except Exception as error:  # one clear line, not a traceback, for a CLI user
        typer.echo(f"error: migration failed: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"database is up to date ({url.split('://', 1)[0]})")


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("migrate")(migrate)
