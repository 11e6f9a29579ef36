"""Everything done to every HTTP request before routing, in one ASGI layer.

- the body limit, enforced on the stream: a 10 MiB body is refused without being buffered;
- requests to ``/v1`` that another site's page made a browser send are refused (403), and so
  are ``/v1`` bodies declared as anything but JSON (415): see ``api/csrf.py``. A body without
  a Content-Type is read as JSON (clients that are not browsers often send none; a browser
  sends Origin with every POST, so the origin rule covers it);
- security headers on every response.

One layer rather than three: each ASGI middleware costs a call frame and a closure per
request, and py-spy counted the stack of middlewares at ~15% of a lease request.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from job_orchestrator.api.csrf import cross_site_reason, is_json_media_type
from job_orchestrator.api.responses import OrjsonResponse, error_response

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# The dashboard ships its scripts and styles; nothing is loaded from elsewhere. The OpenAPI docs
# pages (/docs, /redoc) load Swagger UI from a CDN and are exempted.
HTML_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
API_POLICY = b"default-src 'none'; frame-ancestors 'none'"


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, allowed_origins: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if scope.get("path", "").startswith("/v1/"):
            refusal = self._browser_refusal(scope["method"], headers)
            if refusal is not None:
                await refusal(scope, receive, _with_security_headers(send, scope["path"]))
                return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            declared = _header(headers, b"content-length")
            if declared is not None and (
                not declared.isdigit() or int(declared) > self.max_body_bytes
            ):
                await self._refuse(declared.isdigit(), scope, receive, send)
                return
            if JSON_CONTENT_TYPE not in headers:
                headers = [(k, v) for k, v in headers if k != b"content-type"]
                headers.append(JSON_CONTENT_TYPE)
                scope = {**scope, "headers": headers}
            receive = self._limited(receive)
        await self.app(scope, receive, _with_security_headers(send, scope.get("path", "")))

    def _browser_refusal(
        self, method: str, headers: list[tuple[bytes, bytes]]
    ) -> OrjsonResponse | None:
        """The answer to a request another site's page sent, or to a non-JSON body; else None.
        One pass over the headers: this runs for every API call."""
        origin = fetch_site = content_type = None
        for key, value in headers:
            if key == b"origin":
                origin = value
            elif key == b"sec-fetch-site":
                fetch_site = value
            elif key == b"content-type":
                content_type = value
        if origin is not None or fetch_site is not None:
            reason = cross_site_reason(
                _text(origin),
                _text(fetch_site),
                _text(_header(headers, b"host")) or "",
                self.allowed_origins,
            )
            if reason is not None:
                return error_response(403, "forbidden", reason)
        if (
            content_type is not None
            and content_type != b"application/json"
            and method in ("POST", "PUT", "PATCH")
            and _has_body(headers)
            and not is_json_media_type(content_type.decode("latin-1"))
        ):
            declared = content_type.decode("latin-1")
            return error_response(
                415,
                "unsupported_media_type",
                f"content-type {declared!r} is not accepted: "
                "request bodies must be sent as application/json",
                {"content_type": declared},
            )
        return None

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPException from body reading; our handler answers 413.
                    raise BodyTooLarge(limit)
            return message

        return limited_receive

    async def _refuse(self, too_large: bool, scope: Scope, receive: Receive, send: Send) -> None:
        if too_large:
            response = error_response(
                413,
                "payload_too_large",
                f"request body is larger than the limit of {self.max_body_bytes} bytes",
            )
        else:
            response = error_response(
                400, "invalid_request", "content-length header is not a number"
            )
        await response(scope, receive, _with_security_headers(send, scope.get("path", "")))


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    length = _header(headers, b"content-length")
    if length is not None:
        return length != b"0"
    return _header(headers, b"transfer-encoding") is not None


def _with_security_headers(send: Send, path: str) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {name.lower() for name, _ in headers}
            extra = [h for h in COMMON_HEADERS if h[0] not in names]
            if b"content-security-policy" not in names and not path.startswith(("/docs", "/redoc")):
                content_type = _header(headers, b"content-type") or b""
                policy = HTML_POLICY if content_type.startswith(b"text/html") else API_POLICY
                extra.append((b"content-security-policy", policy))
            if path.startswith("/v1/") and b"cache-control" not in names:
                extra.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers + extra}
        await send(message)

    return send_with_headers
