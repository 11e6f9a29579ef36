"""The published /openapi.json, walked as a code generator reads it.

Every operation has a unique, readable operationId; every 4xx/5xx answer is the error
envelope; every request field that may be left out says its default, and the contract's
defaults are the ones it says. The rules live in ``api/openapi.py`` and hold for routes added
later without their own metadata (the last tests add one).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from job_orchestrator.api.app import create_app
from job_orchestrator.api.openapi import camel_case
from job_orchestrator.settings import Settings
from tests.api.helpers import assert_error, enqueue, lease_one

ERROR_REF = "#/components/schemas/ErrorOut"
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
METHODS = {"get", "put", "post", "delete", "patch"}

# The v1 contract's calls and the names a person would give them.
CONTRACT_OPERATION_IDS = {
    ("post", "/v1/jobs"): "enqueueJob",
    ("post", "/v1/jobs/batch"): "enqueueJobs",
    ("get", "/v1/jobs/{job_id}"): "getJob",
    ("get", "/v1/jobs"): "listJobs",
    ("get", "/v1/jobs/{job_id}/attempts"): "listAttempts",
    ("post", "/v1/jobs/{job_id}/cancel"): "cancelJob",
    ("post", "/v1/jobs/{job_id}/retry"): "retryJob",
    ("get", "/v1/dlq"): "listDlqJobs",
    ("post", "/v1/dlq/redrive"): "redriveDlq",
    ("post", "/v1/workers/lease"): "leaseJobs",
    ("post", "/v1/jobs/{job_id}/heartbeat"): "heartbeatJob",
    ("post", "/v1/jobs/{job_id}/complete"): "completeJob",
    ("post", "/v1/jobs/{job_id}/fail"): "failJob",
    ("get", "/healthz"): "getHealth",
    ("get", "/readyz"): "getReadiness",
    ("get", "/v1/metrics"): "getMetrics",
}

# Defaults the contracts (v1 and v1.1) give, by operation and field path in the request body.
RETRY_DEFAULT = {"initial_seconds": 1.0, "multiplier": 2.0, "max_seconds": 300.0, "jitter": True}
V1_BODY_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/jobs"): {
        "queue": "default",
        "priority": 0,
        "max_attempts": 5,
        "lease_seconds": 30,
        "retry": RETRY_DEFAULT,
        "retry.initial_seconds": 1.0,
        "retry.multiplier": 2.0,
        "retry.max_seconds": 300.0,
        "retry.jitter": True,
        "run_at": None,
        "delay_seconds": None,
        "timeout_seconds": None,
        "idempotency_key": None,
    },
    ("post", "/v1/workers/lease"): {
        "queues": ["default"],
        "types": None,
        "max_jobs": 1,
        "wait_seconds": 0,
    },
    ("post", "/v1/jobs/{job_id}/fail"): {"error.retryable": True},
    ("post", "/v1/jobs/{job_id}/complete"): {"idempotency_key": None},  # null: the lease token
}
# v1.1 fields, checked once their routes and fields exist (others are adding them).
V1_1_BODY_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/jobs"): {
        "concurrency_key": None,
        "concurrency_limit": None,
        "depends_on": [],
        "on_dependency_failure": "cancel",
    },
    ("put", "/v1/schedules/{name}"): {
        "timezone": "UTC",
        "overlap": "skip",
        "catchup_window_seconds": 60,
        "paused": False,
    },
}
QUERY_DEFAULTS = {
    ("get", "/v1/jobs", "limit"): 50,
    ("get", "/v1/jobs/{job_id}", "wait_seconds"): 0,
    ("get", "/v1/dlq", "limit"): 50,
}
V1_1_QUERY_DEFAULTS = {("get", "/v1/schedules", "limit"): 50}


def make_app(tmp_path: Path) -> FastAPI:
    # The document needs no database: the app is built, its lifespan never run.
    return create_app(Settings(database_url=f"sqlite:///{tmp_path}/doc.db"), run_reaper=False)


async def served_document(app: FastAPI) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://doc.test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
async def document(tmp_path: Path) -> dict[str, Any]:
    return await served_document(make_app(tmp_path))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = {**document["components"]["schemas"][name], **_siblings(schema)}
    return schema


def _siblings(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$ref"}


def object_members(document: dict[str, Any], schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object schemas a value of ``schema`` may be (through anyOf/oneOf and $ref)."""
    schema = resolve(document, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(key, []):
            yield from object_members(document, member)
    if "properties" in schema:
        yield schema


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def property_at(document: dict[str, Any], schema: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The property schema at ``a.b`` (through $ref and nullable anyOf), with its siblings."""
    head, _, rest = dotted.partition(".")
    for member in object_members(document, schema):
        if head in member["properties"]:
            found: dict[str, Any] = member["properties"][head]
            return property_at(document, found, rest) if rest else found
    raise AssertionError(f"no property {dotted!r} in {schema}")


def has_property(document: dict[str, Any], schema: dict[str, Any], name: str) -> bool:
    return any(name in m["properties"] for m in object_members(document, schema))


def request_objects(
    document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema reachable from a request body, with where it sits."""
    if "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen = seen | {schema["$ref"]}
    schema = resolve(document, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for member in schema.get(key, []):
            yield from request_objects(document, member, where, seen)
    if "items" in schema:
        yield from request_objects(document, schema["items"], f"{where}[]", seen)
    if "properties" in schema:
        yield where, schema
        for name, prop in schema["properties"].items():
            yield from request_objects(document, prop, f"{where}.{name}", seen)


# ---- operation ids -------------------------------------------------------------------------------
def test_camel_case_of_route_names() -> None:
    assert camel_case("get_job") == "getJob"
    assert camel_case("list_attempts") == "listAttempts"
    assert camel_case("lease") == "lease"
    assert camel_case("_private_name_") == "privateName"


async def test_every_operation_has_a_unique_readable_id(document: dict[str, Any]) -> None:
    ids = [op.get("operationId") for _, _, op in operations(document)]
    assert all(isinstance(i, str) and CAMEL_CASE.match(i) for i in ids), ids
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, (
        f"duplicate operationIds (add an override in api/openapi.py): {duplicates}"
    )


async def test_contract_operations_have_the_names_a_person_would_write(
    document: dict[str, Any],
) -> None:
    got = {(m, p): op["operationId"] for m, p, op in operations(document)}
    for key, expected in CONTRACT_OPERATION_IDS.items():
        assert got.get(key) == expected, (key, got.get(key))


# ---- errors --------------------------------------------------------------------------------------
async def test_every_error_answer_is_the_envelope(document: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            content = response.get("content", {})
            assert set(content) == {"application/json"}, (method, path, status, response)
            assert content["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                method,
                path,
                status,
            )
            checked += 1
    assert checked > 100
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert "HTTPValidationError" not in str(document)


async def test_keyed_calls_list_the_answers_they_can_give(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        if not path.startswith("/v1/"):
            continue
        assert {"401", "403", "503"} <= statuses, (method, path, statuses)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= statuses, (method, path, statuses)
        if "{job_id}" in path:
            assert "404" in statuses, (method, path, statuses)
        assert operation.get("security"), (method, path)  # the API key, as a bearer token
    rate_limited = document["paths"]["/v1/workers/lease"]["post"]["responses"]["429"]
    assert "Retry-After" in rate_limited["headers"]
    assert "Retry-After" in document["paths"]["/readyz"]["get"]["responses"]["503"]["headers"]


async def test_known_shapes_have_their_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    job = schemas["JobOut"]["properties"]
    assert {"$ref": "#/components/schemas/JobErrorOut"} in job["last_error"]["anyOf"]
    attempt = schemas["AttemptOut"]["properties"]
    assert {"$ref": "#/components/schemas/JobErrorOut"} in attempt["error"]["anyOf"]
    assert schemas["JobErrorOut"]["required"] == ["message"]
    details = schemas["ErrorBody"]["properties"]["details"]["anyOf"]
    assert {"items": {"$ref": "#/components/schemas/FieldErrorOut"}, "type": "array"} in details
    for path, schema in [("/healthz", "HealthOut"), ("/readyz", "ReadyOut")]:
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    metrics = document["paths"]["/v1/metrics"]["get"]["responses"]["200"]["content"]
    assert metrics["application/json"]["schema"] == {"$ref": "#/components/schemas/MetricsOut"}


def assert_matches(document: dict[str, Any], schema_name: str, value: dict[str, Any]) -> None:
    """A real body has the documented keys: the required ones, and no undocumented one."""
    schema = document["components"]["schemas"][schema_name]
    assert set(schema.get("required", [])) <= set(value), (schema_name, value)
    if schema.get("additionalProperties") is not True:
        assert set(value) <= set(schema["properties"]), (schema_name, value)


async def test_real_error_bodies_have_the_documented_shape(
    api: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    invalid = await api.post("/v1/jobs", json={"type": "t", "priority": 99})
    error = assert_error(invalid, 422, "invalid_request", field="priority")
    assert_matches(document, "ErrorOut", invalid.json())
    assert_matches(document, "ErrorBody", error)
    assert error["details"], error
    for item in error["details"]:
        assert_matches(document, "FieldErrorOut", item)
    missing = await api.get("/v1/jobs/123456")
    assert_matches(document, "ErrorBody", assert_error(missing, 404, "not_found"))

    job = await enqueue(api, max_attempts=1)
    got = await lease_one(api)
    failed = await api.post(
        f"/v1/jobs/{job['id']}/fail",
        json={"lease_token": got["lease_token"], "error": {"message": "boom", "type": "E"}},
    )
    assert failed.status_code == 200, failed.text
    assert_matches(document, "JobErrorOut", failed.json()["last_error"])
    attempts = (await api.get(f"/v1/jobs/{job['id']}/attempts")).json()["attempts"]
    assert_matches(document, "JobErrorOut", attempts[0]["error"])


# ---- defaults ------------------------------------------------------------------------------------
async def test_every_optional_request_field_says_its_default(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in operations(document):
        schema = body_schema(document, operation)
        if schema is not None:
            for where, obj in request_objects(document, schema, "body", set()):
                required = set(obj.get("required", []))
                missing += [
                    f"{method} {path} {where}.{name}"
                    for name, prop in obj["properties"].items()
                    if name not in required and "default" not in prop
                ]
        for parameter in operation.get("parameters", []):
            if not parameter.get("required") and "default" not in parameter["schema"]:
                missing.append(f"{method} {path} {parameter['in']}.{parameter['name']}")
    assert not missing, missing


def check_body_defaults(
    document: dict[str, Any], table: dict[tuple[str, str], dict[str, Any]], *, strict: bool
) -> int:
    checked = 0
    for (method, path), defaults in table.items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is None and not strict:
            continue
        assert operation is not None, (method, path)
        schema = body_schema(document, operation)
        assert schema is not None, (method, path)
        for dotted, expected in defaults.items():
            if not strict and not has_property(document, schema, dotted.split(".")[0]):
                continue
            prop = property_at(document, schema, dotted)
            assert "default" in prop, (method, path, dotted, prop)
            assert prop["default"] == expected, (method, path, dotted, prop["default"])
            checked += 1
    return checked


def check_query_defaults(
    document: dict[str, Any], table: dict[tuple[str, str, str], Any], *, strict: bool
) -> None:
    for (method, path, name), expected in table.items():
        operation = document["paths"].get(path, {}).get(method)
        if operation is None and not strict:
            continue
        assert operation is not None, (method, path)
        (parameter,) = [p for p in operation["parameters"] if p["name"] == name]
        assert parameter["schema"]["default"] == expected, (method, path, name)


async def test_the_contract_defaults_are_the_documented_ones(document: dict[str, Any]) -> None:
    assert check_body_defaults(document, V1_BODY_DEFAULTS, strict=True) == 19
    check_body_defaults(document, V1_1_BODY_DEFAULTS, strict=False)
    check_query_defaults(document, QUERY_DEFAULTS, strict=True)
    check_query_defaults(document, V1_1_QUERY_DEFAULTS, strict=False)


# ---- a route added later gets the rules without metadata of its own ----------------------------
class _GadgetRequest(BaseModel):
    tags: list[str] = Field(default_factory=lambda: ["a", "b"])
    size: int = 1


async def test_a_route_added_later_gets_ids_errors_and_defaults(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    before = await served_document(app)
    router = APIRouter()

    @router.post("/v1/gadgets/{job_id}/polish")
    async def polish_gadget(job_id: str, body: _GadgetRequest) -> dict[str, str]:
        return {"job_id": job_id}

    app.include_router(router)
    document = await served_document(app)  # FastAPI rebuilds it: the routes changed
    assert "/v1/gadgets/{job_id}/polish" not in before["paths"]
    operation = document["paths"]["/v1/gadgets/{job_id}/polish"]["post"]
    assert operation["operationId"] == "polishGadget"
    assert {"400", "401", "403", "404", "413", "422", "503"} <= set(operation["responses"])
    for status in ("404", "422", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": ERROR_REF}
    assert "HTTPValidationError" not in str(document)
    gadget = document["components"]["schemas"]["_GadgetRequest"]["properties"]
    assert gadget["tags"]["default"] == ["a", "b"]
