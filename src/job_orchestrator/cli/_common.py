"""What every client command shares: the server URL and key options, one-line errors, and
output as a rich table or (``--json``) as JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, NoReturn

import orjson
import typer

from job_orchestrator.sdk import Client
from job_orchestrator.sdk.errors import (
    ConnectionFailed,
    JobError,
    OrchestratorError,
    Unauthorized,
    WaitTimeout,
)

Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="ORCHESTRATOR_URL",
        help="Server URL [default: http://127.0.0.1:8000]",
        show_default=False,
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="ORCHESTRATOR_API_KEY",
        help="API key, sent as a bearer token",
        show_default=False,
        show_envvar=True,
    ),
]


class _Output:
    """Whether this run prints JSON: errors then take the API's envelope too (on stderr)."""

    as_json = False


def _json_output(value: bool) -> bool:
    # Runs while the options are parsed, before the command: errors it raises are JSON then.
    _Output.as_json = _Output.as_json or value
    return value


AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON instead of a table (errors too, on stderr)",
        callback=_json_output,
        is_eager=True,
    ),
]

# Exit statuses, so scripts can tell outcomes apart.
EXIT_ERROR = 1  # the server refused the request, or could not be reached
EXIT_JOB_FAILED = 3  # `jobs wait`: the job ended in the DLQ or was cancelled
EXIT_TIMEOUT = 4  # `jobs wait`: still running when the timeout ran out


def fail(
    message: str, code: int = EXIT_ERROR, *, error_code: str = "error", details: Any = None
) -> NoReturn:
    """One line on stderr, or with --json the API's error envelope, and exit status ``code``."""
    if _Output.as_json:
        envelope = {"error": {"code": error_code, "message": message, "details": details}}
        typer.echo(orjson.dumps(plain(envelope)).decode(), err=True)
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def client(url: str | None, api_key: str | None) -> Iterator[Client]:
    """A client whose errors become one clear line on stderr and a non-zero exit status."""
    the_client = Client(url, api_key=api_key)
    try:
        yield the_client
    except ConnectionFailed:
        fail(
            f"cannot reach the server at {the_client.url} "
            "(is it running? set --url or ORCHESTRATOR_URL)",
            error_code="connection_failed",
            details={"url": the_client.url},
        )
    except Unauthorized as error:
        fail(f"{error.message} (set --api-key or ORCHESTRATOR_API_KEY)", error_code=error.code)
    except JobError as error:
        fail(error.message, EXIT_JOB_FAILED, error_code=error.code, details=error.details)
    except WaitTimeout as error:
        fail(error.message, EXIT_TIMEOUT, error_code=error.code, details=error.details)
    except OrchestratorError as error:
        message = error.message if _Output.as_json else f"{error.message} ({error.code})"
        fail(message, error_code=error.code, details=error.details)
    finally:
        the_client.close()


def plain(value: Any) -> Any:
    """Models -> JSON-ready values (times as RFC 3339 with Z, enums as their value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    typer.echo(orjson.dumps(plain(value), option=orjson.OPT_INDENT_2).decode())


def parse_json(text: str, option: str) -> Any:
    """``--payload '{"a": 1}'``, ``--payload @file.json`` or ``--payload -`` (stdin)."""
    if text == "-":
        text = typer.get_text_stream("stdin").read()
    elif text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            fail(f"{option}: cannot read {text[1:]}: {error.strerror}", 2, error_code="bad_option")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{option} is not valid JSON: {error}", 2, error_code="bad_option")


def parse_zoned_time(text: str | None, option: str) -> datetime | None:
    """An RFC 3339 time with its zone (``Z`` or ``+02:00``): the API's rule, so a time never
    means UTC to one and local time to the other. A time without a zone is refused."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"{option}: {text!r} is not a time (e.g. 2030-01-01T09:00:00Z)",
            2,
            error_code="bad_option",
        )
    if value.utcoffset() is None:
        fail(
            f"{option} needs a time zone: {text}Z for UTC, or an offset such as {text}+02:00",
            2,
            error_code="bad_option",
        )
    return value


def next_page_hint(command: str, cursor: str, filters: dict[str, Any]) -> str:
    """The command for the next page, with the filters of this one (else page 2 is another list)."""
    words = [command]
    for option, value in filters.items():
        if value is not None:
            words += [option, shlex.quote(str(value))]
    return f"more: {' '.join(words)} --cursor {shlex.quote(cursor)}"


def short(value: Any, width: int = 60) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def short_when(value: datetime | None) -> str:
    """Month, day and time: a table's column at 80 columns (``show`` has the full date)."""
    return "" if value is None else value.strftime("%m-%d %H:%M:%S")
