"""The two HTTP transports: aiohttp for async code, httpx for sync code.

aiohttp was chosen for the hot path by measurement (bench/bench_http_clients.py): on this
machine it served about 15x the requests/s of httpx.AsyncClient at 20 concurrent connections.
httpx's sync client is kept for ``Client``, where there is no event loop to share.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
import orjson

from job_orchestrator.sdk.errors import ConnectionFailed, error_from_response

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "job-orchestrator-sdk/0.1"


class _NoBody:
    """Marks a request without a body (``None`` is a valid JSON body: ``null``)."""


NO_BODY: Any = _NoBody()


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("ORCHESTRATOR_URL") or DEFAULT_URL).rstrip("/")


def build_headers(api_key: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    key = api_key or os.environ.get("ORCHESTRATOR_API_KEY")
    if key:
        headers["authorization"] = f"Bearer {key}"
    return headers


def clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {k: _param(v) for k, v in params.items() if v is not None}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode(status: int, raw: bytes) -> Any:
    """The JSON of a 2xx answer; the typed exception of any other."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if 200 <= status < 300:
        return body
    raise error_from_response(status, body)


def _unreachable(url: str, error: BaseException) -> ConnectionFailed:
    reason = str(error) or type(error).__name__
    return ConnectionFailed(f"cannot reach the server at {url}: {reason}")


class AsyncTransport:
    """One aiohttp session, created on first use inside the running loop."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connections: int = 100,
    ) -> None:
        self.url = resolve_url(url)
        self.timeout = timeout
        self._headers = build_headers(api_key)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=connector,
                # The server's answers are JSON decoded with orjson; skip aiohttp's cookie jar.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = NO_BODY,
        timeout: float | None = None,  # noqa: ASYNC109 - per-request HTTP timeout
    ) -> Any:
        session = self._get_session()
        data = None if body is NO_BODY else orjson.dumps(body)
        limit = aiohttp.ClientTimeout(total=timeout or self.timeout)
        try:
            async with session.request(
                method, self.url + path, params=clean_params(params), data=data, timeout=limit
            ) as response:
                raw = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            raise _unreachable(self.url, error) from error
        return decode(status, raw)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SyncTransport:
    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = resolve_url(url)
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, headers=build_headers(api_key))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = NO_BODY,
        timeout: float | None = None,
    ) -> Any:
        content = None if body is NO_BODY else orjson.dumps(body)
        try:
            response = self._client.request(
                method,
                path,
                params=clean_params(params),
                content=content,
                timeout=timeout or self.timeout,
            )
        except httpx.TransportError as error:
            raise _unreachable(self.url, error) from error
        return decode(response.status_code, response.content)

    def close(self) -> None:
        self._client.close()
