"""`orchestrator server` and `orchestrator migrate`: the server side of the CLI.

Server modules are imported inside the commands, so the worker/producer CLI stays light.
"""

from __future__ import annotations

from typing import Annotated, Any

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
    from pydantic import ValidationError

    from job_orchestrator.settings import settings_error_line

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:  # e.g. ORCHESTRATOR_RETAIN_DLQ=3 weeks: one clear line
        typer.echo(f"error: {settings_error_line(error)}", err=True)
        raise typer.Exit(2) from None
    env_keys = _parse_env_keys(settings)
    reachable = _prepare_database(settings)
    _check_authentication(settings, bool(env_keys), reachable)
    # Migrated (or checked) above: the server processes need not do it again.
    serve(settings.model_copy(update={"auto_migrate": False}))


def _prepare_database(settings: Any) -> bool:
    """Migrate or check the schema before serving, so a database the server cannot use is one
    line and exit status 1 rather than a traceback from inside uvicorn's startup."""
    from job_orchestrator.store.migrate import DatabaseProblem, check_schema, migrate_reporting

    url = settings.resolved_database_url
    try:
        if settings.should_auto_migrate:
            for revision in migrate_reporting(url):
                typer.echo(f"migrated: applied {revision}", err=True)
        else:
            check_schema(url)
        return True
    except DatabaseProblem as problem:
        if not problem.unreachable:
            typer.echo(f"error: {problem.message}", err=True)
            raise typer.Exit(1) from None
        # Down, not misconfigured: serve anyway (on loopback the API decides about keys once
        # the database answers); /readyz answers 503 until then.
        typer.echo(
            f"warning: {problem.message}; serving anyway, /readyz is 503 until it answers", err=True
        )
        return False


def _parse_env_keys(settings: Any) -> dict[str, Any]:
    from job_orchestrator.api.auth import parse_env_keys

    try:
        return parse_env_keys(settings.api_keys)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _check_authentication(settings: Any, env_keys: bool, database_answers: bool) -> None:
    """What the app would refuse at startup (api/app.py::make_authenticator), said here in one
    line: inside uvicorn's startup it is a traceback."""
    from job_orchestrator.api.auth import is_loopback

    if env_keys or settings.require_auth or is_loopback(settings.host):
        return
    if database_answers:

        async def count(keys: Any) -> int:
            return int(await keys.count_active())

        if _with_keys(settings.resolved_database_url, count) > 0:
            return
    reason = "no API keys exist" if database_answers else "the database cannot say which keys exist"
    typer.echo(
        f"error: refusing to serve on {settings.host} without authentication ({reason}): set "
        "ORCHESTRATOR_API_KEYS (e.g. producer:KEY,worker:KEY2) or create keys with "
        "`orchestrator keys create`, or bind to 127.0.0.1",
        err=True,
    )
    raise typer.Exit(1)


def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from job_orchestrator.store.migrate import DatabaseProblem, migrate_reporting, safe_url

    try:
        applied = migrate_reporting(database_url or "")
    except DatabaseProblem as problem:  # one clear line, not a traceback, for a CLI user
        typer.echo(f"error: {problem.message}", err=True)
        raise typer.Exit(1) from None
    where = safe_url(database_url or "")
    if not applied:
        typer.echo(f"{where}: already up to date, nothing to apply")
    for revision in applied:
        typer.echo(f"applied {revision}")
    if applied:
        typer.echo(f"{where}: migrated to {applied[-1].split()[0]}")


keys_app = typer.Typer(help="API keys stored in the database (only their hash is kept).")


def _with_keys(database_url: str | None, action: Any) -> Any:
    """Run ``await action(KeyService)`` on the database, then close it."""
    import asyncio

    from job_orchestrator.services.keys import KeyService
    from job_orchestrator.store import open_store
    from job_orchestrator.store.urls import normalize_database_url

    async def run() -> Any:
        store = open_store(normalize_database_url(database_url))
        try:
            return await action(KeyService(store))
        finally:
            await store.close()

    return asyncio.run(run())


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="producer, worker, reader or admin (repeat, or join with +)"),
    ],
    name: Annotated[str | None, typer.Option(help="a label to recognise the key by")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; it is printed once, alone on the last line, and never shown again."""
    from job_orchestrator.api.auth import parse_scopes

    try:
        scopes = parse_scopes("+".join(scope))
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error

    async def create(keys: Any) -> Any:
        return await keys.create(scopes=scopes, name=name)

    created = _with_keys(database_url, create)
    typer.echo(
        f"created key {created.key_id} with scopes {'+'.join(created.scopes)}; "
        "it is shown only once:"
    )
    typer.echo(created.key)


@keys_app.command("list")
def keys_list(
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List keys (ids, scopes, names, dates; never the keys)."""
    import json

    async def fetch(keys: Any) -> Any:
        return await keys.list_keys()

    records = _with_keys(database_url, fetch)
    rows = [
        {
            "id": r.id,
            "scopes": "+".join(r.scopes),
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "scopes", "name", "created", "revoked")
    for row in rows:
        table.add_row(
            *(str(row[k] or "") for k in ("id", "scopes", "name", "created_at", "revoked_at"))
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, database_url: DatabaseUrl = None) -> None:
    """Revoke a key by id; servers stop accepting it within seconds."""

    async def revoke(keys: Any) -> bool:
        return bool(await keys.revoke(key_id))

    if not _with_keys(database_url, revoke):
        typer.echo(f"error: no active key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("migrate")(migrate)
    app.add_typer(keys_app, name="keys")
