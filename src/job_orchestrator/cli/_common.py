"""What every client command shares: the server URL and key options, one-line errors, and
output as a rich table or (``--json``) as JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import json
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
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]

# Exit statuses, so scripts can tell outcomes apart.
EXIT_ERROR = 1  # the server refused the request, or could not be reached
EXIT_JOB_FAILED = 3  # `jobs wait`: the job ended in the DLQ or was cancelled
EXIT_TIMEOUT = 4  # `jobs wait`: still running when the timeout ran out


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
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
            "(is it running? set --url or ORCHESTRATOR_URL)"
        )
    except Unauthorized as error:
        fail(f"{error.message} (set --api-key or ORCHESTRATOR_API_KEY)")
    except JobError as error:
        fail(error.message, EXIT_JOB_FAILED)
    except WaitTimeout as error:
        fail(error.message, EXIT_TIMEOUT)
    except OrchestratorError as error:
        fail(f"{error.message} ({error.code})")
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
            fail(f"{option}: cannot read {text[1:]}: {error.strerror}", 2)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{option} is not valid JSON: {error}", 2)


def short(value: Any, width: int = 60) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")
