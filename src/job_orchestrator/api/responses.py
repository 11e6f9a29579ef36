"""orjson-encoded JSON responses."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from job_orchestrator import jsoncodec


class OrjsonResponse(JSONResponse):
    """A JSONResponse (so OpenAPI documents the response models) encoded by orjson."""

    def render(self, content: Any) -> bytes:
        return jsoncodec.dumps(content)


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> OrjsonResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return OrjsonResponse(body, status_code=status_code, headers=headers)
