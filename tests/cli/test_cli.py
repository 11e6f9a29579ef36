"""The real `orchestrator` command, run as a subprocess against a real server (SQLite)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version as package_version
from pathlib import Path

import httpx
import pytest

from job_orchestrator.api.app import create_app
from job_orchestrator.sdk import Client, JobState
from job_orchestrator.settings import Settings
from tests.support.databases import SqliteTemplate
from tests.support.server import running_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ORCHESTRATOR = str(Path(sys.executable).with_name("orchestrator"))


@pytest.fixture(scope="module")
def server_url(sqlite_template: SqliteTemplate) -> Iterator[str]:
    for database_url in sqlite_template.fresh():
        with running_server(database_url, args=["--reaper-interval", "0.2"]) as url:
            yield url


@pytest.fixture
def queue() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def cli(
    *args: str,
    url: str | None = None,
    timeout: float = 60,
    columns: int = 200,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    env.update(extra_env or {})
    if url:
        env["ORCHESTRATOR_URL"] = url
    env["COLUMNS"] = str(columns)  # wide tables by default, so ids and states are not cut
    return subprocess.run(
        [ORCHESTRATOR, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout
    )


def cli_json(*args: str, url: str) -> object:
    result = cli(*args, "--json", url=url)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def worker(server_url: str, queue: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [
            ORCHESTRATOR, "worker", "tests.cli.handlers:handlers", "--queues", queue,
            "--concurrency", "2", "--grace", "1", "--poll", "1", "--url", server_url,
        ],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


def test_help_lists_every_command() -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("server", "migrate", "worker", "jobs", "dlq"):
        assert command in result.stdout
    jobs = cli("jobs", "--help").stdout
    for command in ("submit", "list", "show", "cancel", "retry", "wait"):
        assert command in jobs


def test_submit_show_list_cancel_retry(server_url: str, queue: str) -> None:
    submitted = cli_json(
        "jobs", "submit", "report", "--payload", '{"month": 5}', "--queue", queue,
        "--priority", "3", "--max-attempts", "2", "--timeout", "9", "--delay", "3600",
        "--retry-initial", "0.5", "--no-jitter", "--idempotency-key", "r-5", url=server_url,
    )  # fmt: skip
    assert isinstance(submitted, dict)
    job_id = submitted["id"]
    assert submitted["payload"] == {"month": 5} and submitted["priority"] == 3
    assert submitted["retry"]["initial_seconds"] == 0.5 and submitted["retry"]["jitter"] is False
    shown = cli_json("jobs", "show", job_id, url=server_url)
    assert isinstance(shown, dict)
    assert shown["job"]["id"] == job_id and shown["attempts"] == []
    listed = cli_json("jobs", "list", "--queue", queue, "--state", "pending", url=server_url)
    assert isinstance(listed, dict)
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    table = cli("jobs", "list", "--queue", queue, url=server_url)
    assert table.returncode == 0 and job_id in table.stdout and "pending" in table.stdout

    cancelled = cli("jobs", "cancel", job_id, url=server_url)
    assert cancelled.returncode == 0 and f"job {job_id} is cancelled" in cancelled.stdout
    again = cli("jobs", "cancel", job_id, url=server_url)
    assert again.returncode == 1
    assert again.stderr.startswith("error: ") and "invalid_transition" in again.stderr
    retried = cli("jobs", "retry", job_id, url=server_url)
    assert retried.returncode == 0 and "pending again" in retried.stdout


def test_worker_runs_jobs_and_wait_prints_results(
    server_url: str, queue: str, worker: subprocess.Popen[str]
) -> None:
    result = cli(
        "jobs", "submit", "echo", "--payload", '{"hello": "world"}', "--queue", queue, "--wait",
        url=server_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"hello": "world"}

    poison = cli_json("jobs", "submit", "poison", "--queue", queue, url=server_url)
    assert isinstance(poison, dict)
    waited = cli("jobs", "wait", poison["id"], "--timeout", "20", url=server_url)
    assert waited.returncode == 3 and "never work" in waited.stderr
    dead = cli_json("dlq", "list", "--queue", queue, url=server_url)
    assert isinstance(dead, dict)
    assert [j["id"] for j in dead["jobs"]] == [poison["id"]]
    assert "poison" in cli("dlq", "list", "--queue", queue, url=server_url).stdout
    redriven = cli("dlq", "redrive", "--queue", queue, "--type", "poison", url=server_url)
    assert redriven.returncode == 0 and "redriven 1 job" in redriven.stdout
    shown = cli_json("jobs", "show", poison["id"], url=server_url)
    assert isinstance(shown, dict) and shown["job"]["state"] in ("pending", "leased", "dlq")
    assert shown["attempts"][0]["outcome"] == "failed"


def test_sigterm_stops_the_worker_gracefully(
    server_url: str, queue: str, worker: subprocess.Popen[str]
) -> None:
    with Client(server_url) as client:
        job = client.enqueue("sleepy", queue=queue)
        deadline = time.monotonic() + 20
        while client.get(job.id).state is not JobState.LEASED:  # a subprocess: poll it
            assert time.monotonic() < deadline, "the worker never leased the job"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        after = client.get(job.id)
    assert after.state is JobState.PENDING  # released at once, not left leased until expiry
    assert after.last_error["type"] == "WorkerShutdown"
    assert worker.stdout is not None
    output = worker.stdout.read()
    assert f"job={job.id} attempt=1 interrupted by shutdown" in output


def test_errors_are_one_line(server_url: str) -> None:
    down = cli("jobs", "list", url="http://127.0.0.1:9")
    assert down.returncode == 1
    assert down.stderr.strip().splitlines() == [
        "error: cannot reach the server at http://127.0.0.1:9 "
        "(is it running? set --url or ORCHESTRATOR_URL)"
    ]
    missing = cli("jobs", "show", "987654321", url=server_url)
    assert missing.returncode == 1 and missing.stderr.strip().endswith("(not_found)")
    bad = cli("jobs", "submit", "t", "--payload", "{not json", url=server_url)
    assert bad.returncode == 2 and "--payload is not valid JSON" in bad.stderr
    no_module = cli("worker", "no_such_module:handlers", url=server_url)
    assert no_module.returncode == 2 and "cannot import no_such_module" in no_module.stderr


async def test_keys_create_list_revoke_and_the_server_honours_them(
    sqlite_template: SqliteTemplate,
) -> None:
    for database_url in sqlite_template.fresh():
        await _keys_lifecycle(database_url)


async def _keys_lifecycle(database_url: str) -> None:
    bad = cli("keys", "create", "--scope", "root", "--database-url", database_url)
    assert bad.returncode == 2 and "unknown scope" in bad.stderr
    created = cli(
        "keys", "create", "--scope", "reader", "--scope", "producer", "--name", "ci",
        "--database-url", database_url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    prefix, key_id, _secret = key.split("_", 2)
    assert prefix == "jo" and f"created key {key_id} with scopes producer+reader" in created.stdout
    listed = json.loads(cli("keys", "list", "--json", "--database-url", database_url).stdout)
    assert [(r["id"], r["scopes"], r["name"], r["revoked_at"]) for r in listed] == [
        (key_id, "producer+reader", "ci", None)
    ]
    app = create_app(Settings(database_url=database_url), run_reaper=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        bearer = {"authorization": f"Bearer {key}"}
        assert (await client.get("/v1/jobs")).status_code == 401  # a stored key turns auth on
        assert (await client.get("/v1/jobs", headers=bearer)).status_code == 200
        revoked = cli("keys", "revoke", key_id, "--database-url", database_url)
        assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
        app.state.authenticator._cache.clear()  # skip the 5 s cache
        assert (await client.get("/v1/jobs", headers=bearer)).status_code == 401
    again = cli("keys", "revoke", key_id, "--database-url", database_url)
    assert again.returncode == 1 and "no active key" in again.stderr
    listed = json.loads(cli("keys", "list", "--json", "--database-url", database_url).stdout)
    assert listed[0]["revoked_at"] is not None


# ---- issue 13: first contact ----------------------------------------------------------------
def dead_job(server_url: str, queue: str, job_type: str = "poison", message: str = "no") -> str:
    """A job in the DLQ: enqueued with one attempt, leased and failed for good."""
    with httpx.Client(base_url=server_url) as http:
        job = http.post("/v1/jobs", json={"type": job_type, "queue": queue, "max_attempts": 1})
        lease = http.post("/v1/workers/lease", json={"worker_id": "t", "queues": [queue]})
        (leased,) = lease.json()["leases"]
        failed = http.post(
            f"/v1/jobs/{leased['job_id']}/fail",
            json={
                "lease_token": leased["lease_token"],
                "error": {"message": message, "retryable": False},
            },
        )
        assert failed.json()["state"] == "dlq", failed.text
        return str(job.json()["id"])


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == f"orchestrator (job-orchestrator) {package_version('job-orchestrator')}"
    )


@pytest.mark.parametrize("command", [["jobs", "submit"], ["jobs", "list"], ["dlq", "redrive"]])
def test_boolean_flags_read_as_flags_in_help(command: list[str]) -> None:
    result = cli(*command, "--help", columns=100)
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout and "BOOLEAN" not in result.stdout, result.stdout
    assert re.search(r"^\s+--json\s+Print JSON", result.stdout, re.M), result.stdout


def test_run_at_needs_a_time_zone_as_in_the_api(server_url: str, queue: str) -> None:
    naive = cli(
        "jobs", "submit", "t", "--queue", queue, "--run-at", "2030-01-01T09:00:00", url=server_url
    )
    assert naive.returncode == 2, naive.stdout
    assert "--run-at needs a time zone" in naive.stderr and "2030-01-01T09:00:00Z" in naive.stderr
    assert cli_json("jobs", "list", "--queue", queue, url=server_url) == {
        "jobs": [],
        "next_cursor": None,
    }
    for given, stored in (
        ("2030-01-01T09:00:00Z", "2030-01-01T09:00:00Z"),
        ("2030-01-01T09:00:00+02:00", "2030-01-01T07:00:00Z"),
    ):
        job = cli_json("jobs", "submit", "t", "--queue", queue, "--run-at", given, url=server_url)
        assert isinstance(job, dict) and job["run_at"] == stored


def test_the_next_page_hint_repeats_the_filters(server_url: str, queue: str) -> None:
    dead = [dead_job(server_url, queue) for _ in range(4)]
    with httpx.Client(base_url=server_url) as http:
        http.post("/v1/jobs", json={"type": "other", "queue": queue})  # pending: filtered out
    first = cli("jobs", "list", "--queue", queue, "--state", "dlq", "--limit", "3", url=server_url)
    assert first.returncode == 0, first.stderr
    hint = first.stdout.strip().splitlines()[-1]
    assert hint.startswith(
        f"more: orchestrator jobs list --queue {queue} --state dlq --limit 3 --cursor "
    )
    rest = cli(*shlex.split(hint.removeprefix("more: orchestrator ")), "--json", url=server_url)
    page = json.loads(rest.stdout)
    assert [j["id"] for j in page["jobs"]] == [dead[0]] and page["next_cursor"] is None

    dlq = cli("dlq", "list", "--queue", queue, "--type", "poison", "--limit", "2", url=server_url)
    hint = dlq.stdout.strip().splitlines()[-1]
    assert hint.startswith(
        f"more: orchestrator dlq list --queue {queue} --type poison --limit 2 --cursor "
    )


def test_errors_are_json_with_json(server_url: str) -> None:
    missing = cli("jobs", "show", "987654321", "--json", url=server_url)
    assert missing.returncode == 1 and missing.stdout == ""
    error = json.loads(missing.stderr)["error"]
    assert error["code"] == "not_found" and "987654321" in error["message"]
    down = cli("jobs", "list", "--json", url="http://127.0.0.1:9")
    assert down.returncode == 1
    assert json.loads(down.stderr)["error"]["code"] == "connection_failed"
    bad = cli("jobs", "submit", "t", "--payload", "{not json", "--json", url=server_url)
    assert bad.returncode == 2 and json.loads(bad.stderr)["error"]["code"] == "bad_option"
    # Without --json, still one line of text.
    assert cli("jobs", "show", "987654321", url=server_url).stderr.startswith("error: ")


def test_tables_keep_state_and_type_readable_at_80_columns(server_url: str, queue: str) -> None:
    job_type = "send_welcome_email"
    dead_job(server_url, queue, job_type, "SMTP relay refused the connection: " + "x" * 80)
    with httpx.Client(base_url=server_url) as http:
        http.post("/v1/jobs", json={"type": job_type, "queue": queue})
    table = cli("jobs", "list", "--queue", queue, columns=80, url=server_url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.rstrip("\n").splitlines()
    assert all(len(line) <= 80 for line in lines), table.stdout
    rows = [line for line in lines if job_type[:10] in line]
    assert len(rows) == 2, table.stdout  # one line per job, not wrapped
    assert {"dlq", "pending"} == {
        state for row in rows for state in ("dlq", "pending") if f" {state} " in row
    }


def test_show_marks_where_each_attempt_budget_began(server_url: str, queue: str) -> None:
    job_id = dead_job(server_url, queue, message="first budget")
    assert cli("jobs", "retry", job_id, url=server_url).returncode == 0
    with httpx.Client(base_url=server_url) as http:
        (leased,) = http.post(
            "/v1/workers/lease", json={"worker_id": "t", "queues": [queue]}
        ).json()["leases"]
        http.post(
            f"/v1/jobs/{job_id}/fail",
            json={
                "lease_token": leased["lease_token"],
                "error": {"message": "second", "retryable": False},
            },
        )
    shown = cli("jobs", "show", job_id, columns=100, url=server_url)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if "failed" in line]
    assert len(rows) == 2, shown.stdout
    assert rows[0].split()[:2] == ["1", "1"] and rows[1].split()[:3] == ["2", "(redriven)", "1"], (
        rows
    )
