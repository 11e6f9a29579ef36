"""The published OpenAPI document, as a code generator reads it.

FastAPI's own document leaves most error answers without a schema (or with its own 422
body, which we never send), names operations after their URL
(``get_job_v1_jobs__job_id__get``), and shows neither ``default_factory`` defaults nor any
``default: null``. The rules here fix that for every route, including routes added later,
without touching them: ``operation_id`` names each operation when its route is created, and
``install_openapi`` post-processes the document FastAPI builds.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Protocol

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticUndefined, to_jsonable_python
from starlette.routing import BaseRoute

from job_orchestrator.api import ratelimit
from job_orchestrator.api.deps import COMMON_ERRORS
from job_orchestrator.api.schemas import ErrorOut

REF_PREFIX = "#/components/schemas/"
ERROR_SCHEMA = ErrorOut.__name__
ERROR_CONTENT = {"application/json": {"schema": {"$ref": REF_PREFIX + ERROR_SCHEMA}}}

# Where camelCasing the route function's name reads badly or says too little: the name a
# person would write. Everything else is the function's name in camelCase (``get_job`` ->
# ``getJob``). tests/api/test_openapi_document.py checks the ids are unique.
OPERATION_IDS: dict[str, str] = {
    "enqueue": "enqueueJob",
    "enqueue_batch": "enqueueJobs",
    "redrive": "redriveDlq",
    "list_dlq": "listDlqJobs",
    "lease": "leaseJobs",
    "heartbeat": "heartbeatJob",
    "complete": "completeJob",
    "fail": "failJob",
    "snooze": "snoozeJob",
    "explain": "explainJob",
    "complete_batch": "completeJobs",
    "heartbeat_batch": "heartbeatJobs",
    "release_batch": "releaseJobs",
    "healthz": "getHealth",
    "readyz": "getReadiness",
    "metrics_json": "getMetrics",
    "metrics_prometheus": "getPrometheusMetrics",
}

# Paths outside /v1 that still ask for a key (``/metrics`` unless ORCHESTRATOR_METRICS_OPEN).
KEYED_PATHS = frozenset({"/metrics"})

# What a response header means, for the error answers that carry one.
ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "The scheme to use: Bearer",
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds until a retry may pass",
            "schema": {"type": "integer"},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "schema": {"type": "integer"},
        }
    },
}
OTHER_ERRORS: dict[int | str, str] = {
    404: "Unknown job id",
    413: "The request body, or a JSON field of it, is over its size limit",
    415: "The body's Content-Type is not application/json (a cross-site form cannot post here)",
}
RATE_LIMITED = {
    "description": "Over the key's (or address's) request rate; retry after Retry-After"
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


class RouteLike(Protocol):
    """An APIRoute as the document sees it (FastAPI >= 0.16x wraps included routes)."""

    @property
    def path_format(self) -> str: ...
    @property
    def methods(self) -> set[str] | None: ...
    @property
    def dependant(self) -> Dependant: ...
    @property
    def include_in_schema(self) -> bool: ...


def api_routes(routes: list[BaseRoute]) -> list[RouteLike]:
    """The API routes behind ``app.routes``, with their effective paths."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # older FastAPI: included routes are copied into app.routes
        return [route for route in routes if isinstance(route, APIRoute)]
    return [c for c in contexts(routes) if isinstance(c.original_route, APIRoute)]


def camel_case(name: str) -> str:
    first, *rest = name.strip("_").split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest if part)


def operation_id(route: APIRoute) -> str:
    """FastAPI's ``generate_unique_id_function``: the id a person would write."""
    return OPERATION_IDS.get(route.name) or camel_case(route.name)


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at /openapi.json (FastAPI still builds and caches it)."""
    build = app.openapi
    finished: list[dict[str, Any]] = []  # the cached document, once it has been finished

    def openapi() -> dict[str, Any]:
        document = build()
        if not finished or finished[0] is not document:
            finish_document(document, api_routes(app.routes))
            finished[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def finish_document(document: dict[str, Any], routes: list[RouteLike]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _add_error_schema(schemas)
    routes_by_operation = {(r.path_format, m.lower()): r for r in routes for m in r.methods or ()}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes_by_operation.get((path, method))
            _add_known_errors(path, operation, route)
            _document_errors(operation)
    _drop_unreferenced(document, FASTAPI_VALIDATION_SCHEMAS)
    _add_defaults(document, routes)


def _add_error_schema(schemas: dict[str, Any]) -> None:
    _, top = models_json_schema([(ErrorOut, "serialization")], ref_template=REF_PREFIX + "{model}")
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)


def _add_known_errors(path: str, operation: dict[str, Any], route: RouteLike | None) -> None:
    """The answers every keyed call can give, so a route that forgot them still lists them."""
    responses = operation.setdefault("responses", {})
    if not (path.startswith("/v1/") or path in KEYED_PATHS):
        return
    known = {status: answer["description"] for status, answer in COMMON_ERRORS.items()}
    statuses: list[int | str] = [401, 403, 503]
    if "requestBody" in operation:
        statuses += [400, 413, 415]
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append(422)
    if "{job_id}" in path:
        statuses.append(404)  # any id that is not one of ours is simply not found
    for status in statuses:
        description = known.get(status) or OTHER_ERRORS[status]
        responses.setdefault(str(status), {"description": description})
    if route is not None and _depends_on(route.dependant, ratelimit.limit):
        responses.setdefault("429", dict(RATE_LIMITED))


def _depends_on(dependant: Dependant, call: object) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def _document_errors(operation: dict[str, Any]) -> None:
    """Every 4xx/5xx answer is the envelope; FastAPI's own 422 body is never what we send."""
    for status, response in operation.get("responses", {}).items():
        if not _is_error_status(status):
            continue
        response["content"] = {k: {"schema": dict(v["schema"])} for k, v in ERROR_CONTENT.items()}
        if status in ERROR_HEADERS:
            response.setdefault("headers", {}).update(ERROR_HEADERS[status])
        if status == "422" and response.get("description") == "Validation Error":
            response["description"] = COMMON_ERRORS[422]["description"]


def _is_error_status(status: str) -> bool:
    return status[:1] in ("4", "5")


def _drop_unreferenced(document: dict[str, Any], names: tuple[str, ...]) -> None:
    schemas = document["components"]["schemas"]
    removed = {name: schemas.pop(name) for name in names if name in schemas}
    referenced = set(_refs(document))
    schemas.update({k: v for k, v in removed.items() if REF_PREFIX + k in referenced})


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _add_defaults(document: dict[str, Any], routes: list[RouteLike]) -> None:
    """Every request field that may be left out says its default. Pydantic omits those of
    ``default_factory`` fields (``queues`` -> ``["default"]``) and FastAPI drops every
    ``default: null`` when it encodes the document: both are put back here."""
    schemas = document["components"]["schemas"]
    for model in _request_models(routes):
        for name in (model.__name__, f"{model.__name__}-Input"):
            schema = schemas.get(name)
            if schema is not None and schema.get("title") == model.__name__:
                _set_defaults(model.model_fields, schema.get("properties", {}))
    for route in routes:
        for method in route.methods or ():
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _set_parameter_defaults(route.dependant, operation.get("parameters", []))


def _set_defaults(fields: dict[str, FieldInfo], properties: dict[str, Any]) -> None:
    for name, field in fields.items():
        key = field.alias or name
        if key in properties and not field.is_required():
            default = _default_of(field)
            if default is not PydanticUndefined:
                properties[key].setdefault("default", default)


def _default_of(field: FieldInfo) -> Any:
    if field.default_factory is None:
        return to_jsonable_python(field.default)
    if getattr(field, "default_factory_takes_data", False):
        return PydanticUndefined  # computed from the other fields: no one value to show
    return to_jsonable_python(field.default_factory())  # type: ignore[call-arg]


def _set_parameter_defaults(dependant: Dependant, parameters: list[dict[str, Any]]) -> None:
    declared = {
        (kind, param.alias): param.field_info
        for kind, params in (
            ("query", dependant.query_params),
            ("header", dependant.header_params),
            ("cookie", dependant.cookie_params),
        )
        for param in params
    }
    for parameter in parameters:
        field = declared.get((parameter.get("in", ""), parameter.get("name", "")))
        if field is not None and not field.is_required() and "schema" in parameter:
            default = _default_of(field)
            if default is not PydanticUndefined:
                parameter["schema"].setdefault("default", default)


def _request_models(routes: list[RouteLike]) -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {}
    for route in routes:
        if route.include_in_schema:
            for param in route.dependant.body_params:
                _collect_models(param.field_info.annotation, seen)
    return list(seen)


def _collect_models(annotation: Any, seen: dict[type[BaseModel], None]) -> None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen[annotation] = None
        for field in annotation.model_fields.values():
            _collect_models(field.annotation, seen)
        return
    for argument in typing.get_args(annotation):
        _collect_models(argument, seen)
