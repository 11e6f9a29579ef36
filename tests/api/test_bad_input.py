"""Bad input is a 4xx in the error envelope that names the field: never a 500, never a trace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.helpers import assert_error, enqueue, get_job, lease_one, ts

BIG = 2**64
HUGE = 10**30
LONG = "x" * 256
KIB = 1024


async def post(api: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    return await api.post(path, json=body)


class Failures:
    """Table-driven checks in one test (one fresh database per backend, not per case),
    reporting every failing case at the end rather than only the first."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, case: str, response: httpx.Response, *args: Any, **kwargs: Any) -> None:
        try:
            assert_error(response, *args, **kwargs)
        except AssertionError as error:
            self.found.append(f"{case}: {error}")

    def assert_none(self) -> None:
        assert not self.found, "\n".join(self.found)


# ---- enqueue fields ------------------------------------------------------------------------
ENQUEUE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("priority_negative", {"priority": -1}, "priority"),
    ("priority_too_high", {"priority": 10}, "priority"),
    ("priority_64_bit", {"priority": BIG}, "priority"),
    ("priority_string", {"priority": "high"}, "priority"),
    ("priority_fraction", {"priority": 1.5}, "priority"),
    ("max_attempts_zero", {"max_attempts": 0}, "max_attempts"),
    ("max_attempts_too_high", {"max_attempts": 1001}, "max_attempts"),
    ("max_attempts_huge", {"max_attempts": -(2**80)}, "max_attempts"),
    ("delay_negative", {"delay_seconds": -5}, "delay_seconds"),
    ("delay_huge", {"delay_seconds": HUGE}, "delay_seconds"),
    ("delay_beyond_float", {"delay_seconds": 10**400}, "delay_seconds"),
    ("delay_and_run_at", {"delay_seconds": 1, "run_at": "2030-01-01T00:00:00Z"}, "run_at"),
    ("run_at_not_a_time", {"run_at": "tomorrow"}, "run_at"),
    ("run_at_number", {"run_at": [2030]}, "run_at"),
    ("lease_seconds_zero", {"lease_seconds": 0}, "lease_seconds"),
    ("lease_seconds_huge", {"lease_seconds": BIG}, "lease_seconds"),
    ("timeout_negative", {"timeout_seconds": -1}, "timeout_seconds"),
    ("retry_unknown_field", {"retry": {"initial": 1}}, "retry.initial"),
    ("retry_multiplier_low", {"retry": {"multiplier": 0.5}}, "retry.multiplier"),
    ("retry_initial_zero", {"retry": {"initial_seconds": 0}}, "retry.initial_seconds"),
    ("retry_not_object", {"retry": 3}, "retry"),
    ("unknown_field", {"priorty": 1}, "priorty"),
    ("type_number", {"type": 5}, "type"),
    ("type_empty", {"type": ""}, "type"),
    ("type_null", {"type": None}, "type"),
    ("type_long", {"type": LONG}, "type"),
    ("type_nul", {"type": "a\x00b"}, "type"),
    ("type_lone_surrogate", {"type": "\ud800"}, "type"),
    ("queue_long", {"queue": LONG}, "queue"),
    ("queue_nul", {"queue": "\x00"}, "queue"),
    ("queue_list", {"queue": ["a"]}, "queue"),
    ("idempotency_key_long", {"idempotency_key": LONG}, "idempotency_key"),
    ("idempotency_key_nul", {"idempotency_key": "k\x00"}, "idempotency_key"),
]


async def test_enqueue_rejects(api: httpx.AsyncClient) -> None:
    failures = Failures()
    for name, fields, field in ENQUEUE_CASES:
        body = {"type": "t", **fields}
        response = await api.post("/v1/jobs", content=json.dumps(body).encode())
        failures.check(name, response, (400, 422), "invalid_request", field=field)
        # In a batch too (the field is named with its position).
        batch = json.dumps({"jobs": [{"type": "ok"}, body]}).encode()
        response = await api.post("/v1/jobs/batch", content=batch)
        failures.check(f"batch {name}", response, (400, 422), "invalid_request", field=field)
    failures.assert_none()
    # Nothing was created by any of them.
    assert (await api.get("/v1/jobs")).json()["jobs"] == []


async def test_missing_type(api: httpx.AsyncClient) -> None:
    assert_error(await post(api, "/v1/jobs", {}), 422, "invalid_request", field="type")


async def test_boundary_values_are_accepted(api: httpx.AsyncClient) -> None:
    job = await enqueue(
        api,
        "y" * 255,
        queue="q" * 255,
        idempotency_key="k" * 255,
        priority=9,
        max_attempts=1000,
        payload={"max": 2**63 - 1, "min": -(2**63), "unicode": "żółw 🐢", "nested": [[[]]]},
    )
    assert job["payload"]["max"] == 2**63 - 1
    assert job["payload"]["min"] == -(2**63)
    assert (await get_job(api, job["id"]))["payload"] == job["payload"]


# ---- JSON values the contract lets through: they must come back exactly -------------------
ODD_JSON: list[tuple[str, Any]] = [
    ("nul_in_string", {"s": "a\x00b", "t": "\x00"}),
    ("nul_in_key", {"a\x00": 1}),
    ("int_beyond_64_bit", {"n": BIG * 4, "m": -(2**64), "big": 10**40}),
    ("int_at_64_bit_edges", [2**63 - 1, -(2**63), 2**63, 2**64 - 1]),
    ("escaped_backslash_u0000", {"regex": "\\u0000", "path": "C:\\u0000dir"}),
    ("deep", json.loads("[" * 300 + "1" + "]" * 300)),
    ("unicode", {"emoji": "🐢", "rtl": "עברית", "zw": "a\u200bb"}),
    ("float_exponents", [1e300, -1e-300, 0.1, 5e-324]),
]


@pytest.mark.parametrize("value", [v for _, v in ODD_JSON], ids=[n for n, _ in ODD_JSON])
async def test_odd_json_round_trips_or_is_refused_cleanly(
    api: httpx.AsyncClient, value: Any
) -> None:
    """Through enqueue, get, list, lease, heartbeat details, complete result: never a 500."""
    response = await api.post("/v1/jobs", content=json.dumps({"type": "t", "payload": value}))
    if response.status_code != 201:
        assert_error(response, 422, "invalid_request", field="payload")
        return
    job = response.json()
    assert job["payload"] == value
    assert (await api.get(f"/v1/jobs/{job['id']}")).json()["payload"] == value
    listed = await api.get("/v1/jobs")
    assert listed.status_code == 200, listed.text
    assert listed.json()["jobs"][0]["payload"] == value
    leased = await api.post("/v1/workers/lease", json={"worker_id": "w"})
    assert leased.status_code == 200, leased.text
    (got,) = leased.json()["leases"]
    assert got["payload"] == value
    token = got["lease_token"]
    beat = await api.post(
        f"/v1/jobs/{job['id']}/heartbeat",
        content=json.dumps({"lease_token": token, "details": value}),
    )
    assert beat.status_code == 200, beat.text
    assert (await get_job(api, job["id"]))["heartbeat_details"] == value
    done = await api.post(
        f"/v1/jobs/{job['id']}/complete",
        content=json.dumps({"lease_token": token, "result": value}),
    )
    assert done.status_code == 200, done.text
    assert done.json()["result"] == value
    assert (await get_job(api, job["id"]))["result"] == value
    other = await api.post(
        f"/v1/jobs/{job['id']}/complete",
        content=json.dumps({"lease_token": token, "result": 1, "idempotency_key": "other"}),
    )
    assert assert_error(other, 409, "already_completed")["details"]["result"] == value


async def test_body_nested_beyond_any_parser_is_4xx(api: httpx.AsyncClient) -> None:
    deep = b'{"type": "t", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await api.post("/v1/jobs", content=deep)
    assert_error(response, (400, 413, 422))


# ---- body-level problems -------------------------------------------------------------------
MALFORMED = [b'{"type":', b"", b"not json", b"[]", b'"type"', b"null", b"\xff\xfe", b'{"a",}']
BODY_PATHS = [
    "/v1/jobs", "/v1/jobs/batch", "/v1/workers/lease", "/v1/workers/complete",
    "/v1/workers/heartbeat", "/v1/jobs/1/heartbeat", "/v1/jobs/1/complete", "/v1/jobs/1/fail",
]  # fmt: skip


async def test_malformed_bodies(api: httpx.AsyncClient) -> None:
    await enqueue(api)
    failures = Failures()
    for path in BODY_PATHS:
        for raw in MALFORMED:
            response = await api.post(
                path, content=raw, headers={"content-type": "application/json"}
            )
            failures.check(f"{path} {raw!r}", response, (400, 422), "invalid_request")
    failures.assert_none()


async def test_body_without_content_type_is_read_as_json(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/jobs", content=b'{"type": "t"}')
    assert response.status_code == 201, response.text
    # curl's default form encoding is what a cross-site form sends: refused, saying what to do
    # (tests/security/test_cross_site.py).
    form = await api.post(
        "/v1/jobs",
        content=b'{"type": "t"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_error(form, 415, "unsupported_media_type", field="application/json")


async def test_payload_over_256_kib_is_413(api: httpx.AsyncClient) -> None:
    payload = "p" * (256 * KIB + 10)
    assert_error(
        await post(api, "/v1/jobs", {"type": "t", "payload": payload}),
        413,
        "payload_too_large",
        field="payload",
    )
    batch = {"jobs": [{"type": "t"}, {"type": "t", "payload": payload}]}
    assert_error(
        await post(api, "/v1/jobs/batch", batch), 413, "payload_too_large", field="jobs.1.payload"
    )
    assert (await api.get("/v1/jobs")).json()["jobs"] == []
    # Just under the limit is fine.
    ok = await post(api, "/v1/jobs", {"type": "t", "payload": "p" * (256 * KIB - 100)})
    assert ok.status_code == 201


async def test_result_and_details_over_256_kib_are_413(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    big = {"blob": "r" * (256 * KIB + 10)}
    hb = await post(
        api, f"/v1/jobs/{job['id']}/heartbeat", {"lease_token": got["lease_token"], "details": big}
    )
    assert_error(hb, 413, "payload_too_large", field="details")
    done = await post(
        api, f"/v1/jobs/{job['id']}/complete", {"lease_token": got["lease_token"], "result": big}
    )
    assert_error(done, 413, "payload_too_large", field="result")
    batch = {
        "completions": [{"job_id": job["id"], "lease_token": got["lease_token"], "result": big}]
    }
    response = await post(api, "/v1/workers/complete", batch)
    assert response.status_code in (200, 413), response.text
    if response.status_code == 200:
        assert response.json()["results"][0]["status"] == 413
    after = await get_job(api, job["id"])
    assert after["state"] == "leased" and after["heartbeat_details"] is None


async def test_body_over_1_mib_is_413(api: httpx.AsyncClient) -> None:
    body = json.dumps({"type": "t", "payload": "b" * (KIB * KIB + 10)}).encode()
    response = await api.post("/v1/jobs", content=body)
    assert_error(response, 413, "payload_too_large")


async def test_streamed_body_over_1_mib_without_content_length_is_413(
    api: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "t", "payload": "'
        for _ in range(40):
            yield b"s" * (64 * KIB)
        yield b'"}'

    request = api.build_request("POST", "/v1/jobs", content=chunks())
    assert "content-length" not in request.headers
    response = await api.send(request)
    assert_error(response, 413, "payload_too_large")
    assert (await api.get("/v1/jobs")).json()["jobs"] == []


async def test_streamed_small_body_without_content_length_works(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": '
        yield b'"streamed"}'

    response = await api.post("/v1/jobs", content=chunks())
    assert response.status_code == 201, response.text


# ---- query parameters ----------------------------------------------------------------------
QUERY_CASES: list[tuple[str, str, dict[str, str], str]] = [
    ("list_limit_zero", "/v1/jobs", {"limit": "0"}, "limit"),
    ("list_limit_high", "/v1/jobs", {"limit": "501"}, "limit"),
    ("list_limit_64_bit", "/v1/jobs", {"limit": str(BIG)}, "limit"),
    ("list_limit_text", "/v1/jobs", {"limit": "ten"}, "limit"),
    ("list_unknown_state", "/v1/jobs", {"state": "running"}, "state"),
    ("list_state_case", "/v1/jobs", {"state": "PENDING"}, "state"),
    ("list_queue_long", "/v1/jobs", {"queue": LONG}, "queue"),
    ("list_type_long", "/v1/jobs", {"type": LONG}, "type"),
    ("cursor_text", "/v1/jobs", {"cursor": "abc"}, "cursor"),
    ("cursor_negative", "/v1/jobs", {"cursor": "-5"}, "cursor"),
    ("cursor_huge", "/v1/jobs", {"cursor": "9" * 30}, "cursor"),
    ("cursor_unicode_digits", "/v1/jobs", {"cursor": "١٢"}, "cursor"),
    ("dlq_limit_zero", "/v1/dlq", {"limit": "0"}, "limit"),
    ("dlq_limit_high", "/v1/dlq", {"limit": "501"}, "limit"),
    ("dlq_cursor_text", "/v1/dlq", {"cursor": "zz"}, "cursor"),
    ("dlq_state_ignored_but_type_long", "/v1/dlq", {"type": LONG}, "type"),
]


async def test_bad_query_parameters(api: httpx.AsyncClient) -> None:
    failures = Failures()
    for name, path, params, field in QUERY_CASES:
        response = await api.get(path, params=params)
        failures.check(name, response, 422, "invalid_request", field=field)
    job = await enqueue(api)
    for wait in ["-1", "31", "1e400", "nan", "inf", "-inf", "soon", "", str(BIG)]:
        response = await api.get(f"/v1/jobs/{job['id']}", params={"wait_seconds": wait})
        failures.check(f"wait_seconds={wait}", response, 422, field="wait_seconds")
    failures.assert_none()


async def test_cursor_past_the_largest_id_is_the_top_of_the_list(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    for cursor in (str(2**63), "9" * 19, ""):
        response = await api.get("/v1/jobs", params={"cursor": cursor})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert [j["id"] for j in response.json()["jobs"]] == [job["id"]]
        else:
            assert_error(response, 422, field="cursor")


# ---- job ids -------------------------------------------------------------------------------
BAD_IDS = ["abc", "-1", "1.5", "0x10", "\uff11\uff12", "9" * 30, str(2**63), "1e3", " 1", "%00"]


async def test_unknown_and_malformed_job_ids_are_404(api: httpx.AsyncClient) -> None:
    await enqueue(api)
    failures = Failures()
    for job_id in BAD_IDS:
        calls = {
            "get": api.get(f"/v1/jobs/{job_id}"),
            "attempts": api.get(f"/v1/jobs/{job_id}/attempts"),
            "cancel": api.post(f"/v1/jobs/{job_id}/cancel"),
            "retry": api.post(f"/v1/jobs/{job_id}/retry"),
            "heartbeat": api.post(f"/v1/jobs/{job_id}/heartbeat", json={"lease_token": "t"}),
            "complete": api.post(f"/v1/jobs/{job_id}/complete", json={"lease_token": "t"}),
            "fail": api.post(
                f"/v1/jobs/{job_id}/fail", json={"lease_token": "t", "error": {"message": "m"}}
            ),
        }
        for call, request in calls.items():
            failures.check(f"{call} {job_id!r}", await request, 404, "not_found")
    failures.assert_none()


async def test_job_id_zero_and_max_are_simply_not_found(api: httpx.AsyncClient) -> None:
    for job_id in ("0", str(2**63 - 1), "00000000000000000001"):
        assert_error(await api.get(f"/v1/jobs/{job_id}"), 404, "not_found")


# ---- worker calls --------------------------------------------------------------------------
LEASE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing_worker_id", {}, "worker_id"),
    ("worker_id_null", {"worker_id": None}, "worker_id"),
    ("worker_id_long", {"worker_id": LONG}, "worker_id"),
    ("worker_id_nul", {"worker_id": "w\x00"}, "worker_id"),
    ("max_jobs_zero", {"max_jobs": 0}, "max_jobs"),
    ("max_jobs_over_100", {"max_jobs": 101}, "max_jobs"),
    ("max_jobs_64_bit", {"max_jobs": BIG}, "max_jobs"),
    ("max_jobs_text", {"max_jobs": "many"}, "max_jobs"),
    ("wait_negative", {"wait_seconds": -1}, "wait_seconds"),
    ("wait_over_30", {"wait_seconds": 31}, "wait_seconds"),
    ("wait_64_bit", {"wait_seconds": BIG}, "wait_seconds"),
    ("wait_beyond_float", {"wait_seconds": 10**400}, "wait_seconds"),
    ("queues_string", {"queues": "default"}, "queues"),
    ("queues_empty", {"queues": []}, "queues"),
    ("queues_long_name", {"queues": [LONG]}, "queues"),
    ("queues_nul", {"queues": ["a\x00"]}, "queues"),
    ("queues_too_many", {"queues": [f"q{i}" for i in range(101)]}, "queues"),
    ("types_empty", {"types": []}, "types"),
    ("types_number", {"types": [1]}, "types"),
    ("unknown_field", {"max_job": 2}, "max_job"),
]


async def test_lease_rejects(api: httpx.AsyncClient) -> None:
    await enqueue(api)
    failures = Failures()
    for name, fields, field in LEASE_CASES:
        body = {"worker_id": "w", **fields}
        if field == "worker_id" and "worker_id" not in fields:
            del body["worker_id"]
        response = await api.post("/v1/workers/lease", content=json.dumps(body).encode())
        failures.check(name, response, 422, "invalid_request", field=field)
    failures.assert_none()
    assert (await api.get("/v1/jobs", params={"state": "leased"})).json()["jobs"] == []


async def test_worker_call_bodies(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    got = await lease_one(api)
    base = f"/v1/jobs/{job['id']}"
    token = got["lease_token"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("heartbeat", {}, "lease_token"),
        ("heartbeat", {"lease_token": ""}, "lease_token"),
        ("heartbeat", {"lease_token": LONG}, "lease_token"),
        ("heartbeat", {"lease_token": 5}, "lease_token"),
        ("heartbeat", {"lease_token": token, "extra": 1}, "extra"),
        ("complete", {"result": 1}, "lease_token"),
        ("complete", {"lease_token": token, "idempotency_key": LONG}, "idempotency_key"),
        ("complete", {"lease_token": token, "idempotency_key": ""}, "idempotency_key"),
        ("fail", {"lease_token": token}, "error"),
        ("fail", {"lease_token": token, "error": "boom"}, "error"),
        ("fail", {"lease_token": token, "error": {}}, "error.message"),
        ("fail", {"lease_token": token, "error": {"message": 1}}, "error.message"),
        (
            "fail",
            {"lease_token": token, "error": {"message": "m", "retry_after_seconds": -1}},
            "error.retry_after_seconds",
        ),
        (
            "fail",
            {"lease_token": token, "error": {"message": "m", "retryable": "perhaps"}},
            "error.retryable",
        ),
        ("fail", {"lease_token": token, "error": {"message": "m", "type": LONG}}, "error.type"),
        ("fail", {"lease_token": token, "error": {"message": "m", "code": 1}}, "error.code"),
    ]
    failures = Failures()
    for call, body, field in cases:
        response = await api.post(f"{base}/{call}", content=json.dumps(body).encode())
        failures.check(f"{call} {body}", response, 422, "invalid_request", field=field)
    failures.assert_none()
    after = await get_job(api, job["id"])
    assert after["state"] == "leased" and after["heartbeat_details"] is None


async def test_redrive_and_batch_worker_bodies(api: httpx.AsyncClient) -> None:
    cases: list[tuple[str, Any, str]] = [
        ("/v1/dlq/redrive", {"limit": 0}, "limit"),
        ("/v1/dlq/redrive", {"limit": BIG}, "limit"),
        ("/v1/dlq/redrive", {"queue": LONG}, "queue"),
        ("/v1/dlq/redrive", {"state": "dlq"}, "state"),
        ("/v1/dlq/redrive", [], "body"),
        ("/v1/workers/complete", {}, "completions"),
        ("/v1/workers/complete", {"completions": [{"job_id": "1"}]}, "lease_token"),
        ("/v1/workers/complete", {"completions": [{"lease_token": "t"}]}, "job_id"),
        ("/v1/workers/complete", {"completions": [{"job_id": "1" * 41, "lease_token": "t"}]},
         "job_id"),
        ("/v1/workers/heartbeat", {"heartbeats": []}, "heartbeats"),
        ("/v1/workers/heartbeat", {"heartbeats": [{"job_id": 1, "lease_token": "t"}]}, "job_id"),
    ]  # fmt: skip
    failures = Failures()
    for path, body, field in cases:
        response = await api.post(path, content=json.dumps(body).encode())
        failures.check(f"{path} {body}", response, 422, "invalid_request", field=field)
    failures.assert_none()


# ---- random bodies (hypothesis) ------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
ENQUEUE_KEYS = [
    "type", "payload", "queue", "priority", "run_at", "delay_seconds", "max_attempts", "retry",
    "lease_seconds", "timeout_seconds", "idempotency_key",
]  # fmt: skip
LEASE_KEYS = ["worker_id", "queues", "types", "max_jobs", "wait_seconds"]


def bodies(keys: list[str]) -> st.SearchStrategy[Any]:
    """Mostly near-valid objects (the required field plus random optional ones), some junk."""
    field_values = (
        json_values
        | st.lists(st.text(max_size=300), max_size=3)
        | st.integers(min_value=-2, max_value=1002)
        | st.floats(min_value=-1, max_value=40)
    )
    near_valid = st.fixed_dictionaries(
        {keys[0]: st.text(min_size=1, max_size=20)},
        optional={key: field_values for key in keys[1:]},
    )
    objects = st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), field_values)
    return near_valid | objects | json_values


def encode(body: Any) -> bytes:
    # json.dumps writes NaN/Infinity (not JSON) and lone surrogates as escapes: all fair game.
    return json.dumps(body).encode()


FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@FUZZ
@given(body=bodies(ENQUEUE_KEYS))
async def test_random_enqueue_bodies_never_500(api: httpx.AsyncClient, body: Any) -> None:
    response = await api.post("/v1/jobs", content=encode(body))
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)
    else:
        assert response.status_code in (200, 201)
        assert response.json()["state"] == "pending"


@FUZZ
@given(body=bodies(LEASE_KEYS))
async def test_random_lease_bodies_never_500(api: httpx.AsyncClient, body: Any) -> None:
    if isinstance(body, dict) and isinstance(body.get("wait_seconds"), int | float):
        body["wait_seconds"] = 0  # keep the run fast: waiting is tested elsewhere
    response = await api.post("/v1/workers/lease", content=encode(body))
    assert response.status_code < 500, (body, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)
    else:
        assert isinstance(response.json()["leases"], list)


# ---- issue 13, bug 4: input rules that bent -------------------------------------------------
STRINGS_FOR_NUMBERS: list[tuple[str, str, dict[str, Any]]] = [
    ("/v1/jobs", "priority", {"type": "t", "priority": "3"}),
    ("/v1/jobs", "max_attempts", {"type": "t", "max_attempts": "2"}),
    ("/v1/jobs", "delay_seconds", {"type": "t", "delay_seconds": "1.5"}),
    ("/v1/jobs", "lease_seconds", {"type": "t", "lease_seconds": "30"}),
    ("/v1/jobs", "retry.initial_seconds", {"type": "t", "retry": {"initial_seconds": "1"}}),
    ("/v1/jobs/batch", "jobs.0.priority", {"jobs": [{"type": "t", "priority": "3"}]}),
    ("/v1/workers/lease", "max_jobs", {"worker_id": "w", "max_jobs": "2"}),
    ("/v1/workers/lease", "wait_seconds", {"worker_id": "w", "wait_seconds": "0"}),
    ("/v1/dlq/redrive", "limit", {"limit": "5"}),
]


async def test_numbers_sent_as_strings_are_refused(api: httpx.AsyncClient) -> None:
    """The schema says integer (or number): "3" is a string, as JSON Schema reads it."""
    failures = Failures()
    for path, field, body in STRINGS_FOR_NUMBERS:
        response = await post(api, path, body)
        failures.check(f"{path} {field}", response, 422, "invalid_request", field=field)
    failures.assert_none()
    assert (await api.get("/v1/jobs")).json()["jobs"] == []
    # Whole numbers written as 6.0 are still integers in JSON Schema.
    assert (await post(api, "/v1/jobs", {"type": "t", "priority": 6.0})).status_code == 201


@pytest.mark.parametrize(
    "run_at", ["2030-01-01T09:00:00", "2030-01-01 09:00:00", "2030-01-01T09:00", "2030-01-01"]
)
async def test_a_run_at_without_a_time_zone_is_refused(api: httpx.AsyncClient, run_at: str) -> None:
    response = await post(api, "/v1/jobs", {"type": "t", "run_at": run_at})
    error = assert_error(response, 422, "invalid_request", field="run_at")
    assert "time zone" in error["message"]
    assert (await api.get("/v1/jobs")).json()["jobs"] == []


@pytest.mark.parametrize(
    ("run_at", "stored"),
    [
        ("2030-01-01T09:00:00Z", "2030-01-01T09:00:00Z"),
        ("2030-01-01T09:00:00+02:00", "2030-01-01T07:00:00Z"),
        ("2030-01-01T09:00:00.5-01:30", "2030-01-01T10:30:00.500000Z"),
    ],
)
async def test_a_run_at_with_a_time_zone_is_stored_in_utc(
    api: httpx.AsyncClient, run_at: str, stored: str
) -> None:
    response = await post(api, "/v1/jobs", {"type": "t", "run_at": run_at})
    assert response.status_code == 201, response.text
    assert ts(response.json()["run_at"]) == ts(stored)


@pytest.mark.parametrize(
    ("raw", "line", "column"),
    [
        (b'{"type":', 1, 9),
        (b'{\n  "type": "t",\n  "priority": }', 3, 15),
        (b'{"type": "t",}', 1, 14),
        (b"not json", 1, 1),
    ],
)
async def test_malformed_json_names_its_line_and_column(
    api: httpx.AsyncClient, raw: bytes, line: int, column: int
) -> None:
    response = await api.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    error = assert_error(response, 400, "invalid_request")
    assert error["message"].startswith(f"invalid JSON at line {line} column {column}"), error
    assert "body." not in error["message"]
    assert error["details"] == {"line": line, "column": column, "reason": ANY_TEXT}


async def test_json_nested_too_deeply_names_the_limit(api: httpx.AsyncClient) -> None:
    for depth in (5_000, 100_000):
        deep = b'{"type": "t", "payload": ' + b"[" * depth + b"]" * depth + b"}"
        response = await api.post(
            "/v1/jobs", content=deep, headers={"content-type": "application/json"}
        )
        error = assert_error(response, 400, "invalid_request")
        assert "nested" in error["message"] and "500 levels" in error["message"], error
    # Up to the documented limit is always accepted.
    fine = {"type": "t", "payload": json.loads("[" * 500 + "]" * 500)}
    response = await api.post("/v1/jobs", content=json.dumps(fine))
    assert response.status_code == 201, response.text[:300]


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()
