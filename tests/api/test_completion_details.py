"""Issue 13, bug 2, on the wire: the complete bodies (single and batch) carry the handler's last
details, stored as the job's heartbeat_details; omitted, the stored details stay."""

from __future__ import annotations

import httpx

from tests.api.helpers import complete, enqueue, get_job, heartbeat, lease_one


async def test_a_single_completion_stores_its_details(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    item = await lease_one(api)
    await heartbeat(api, job["id"], item["lease_token"], details={"done": 2, "of": 5})
    response = await complete(api, job["id"], item["lease_token"], "ok", details={"done": 5})
    assert response.status_code == 200, response.text
    assert response.json()["heartbeat_details"] == {"done": 5}
    assert (await get_job(api, job["id"]))["heartbeat_details"] == {"done": 5}


async def test_a_completion_without_details_keeps_the_stored_ones(api: httpx.AsyncClient) -> None:
    job = await enqueue(api)
    item = await lease_one(api)
    await heartbeat(api, job["id"], item["lease_token"], details={"done": 2})
    response = await complete(api, job["id"], item["lease_token"], "ok")
    assert response.status_code == 200, response.text
    assert (await get_job(api, job["id"]))["heartbeat_details"] == {"done": 2}


async def test_a_batch_completion_stores_each_items_details(api: httpx.AsyncClient) -> None:
    first, second = await enqueue(api), await enqueue(api)
    leases = {}
    for _ in range(2):
        item = await lease_one(api)
        leases[item["job_id"]] = item["lease_token"]
    body = {
        "completions": [
            {"job_id": first["id"], "lease_token": leases[first["id"]], "details": [1, 2]},
            {"job_id": second["id"], "lease_token": leases[second["id"]]},
        ]
    }
    response = await api.post("/v1/workers/complete", json=body)
    assert [r["status"] for r in response.json()["results"]] == [200, 200], response.text
    assert (await get_job(api, first["id"]))["heartbeat_details"] == [1, 2]
    assert (await get_job(api, second["id"]))["heartbeat_details"] is None
