"""`orchestrator queues list|pause|resume` as a subprocess against a real server (SQLite)."""

from __future__ import annotations

import httpx
import pytest

from job_orchestrator.sdk import Client
from tests.cli.test_cli import cli, cli_json, queue, server_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def test_queues_list_pause_resume(server_url: str, queue: str) -> None:  # noqa: F811
    with Client(server_url) as c:
        c.enqueue("t", queue=queue)
        c.enqueue("t", queue=queue)
    result = cli("queues", "pause", queue, url=server_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"paused {queue} (2 pending)"
    listed = cli("queues", "list", url=server_url)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if queue in line]
    assert "paused" in row and " 2 " in row
    queues = cli_json("queues", "list", url=server_url)
    assert isinstance(queues, list)
    mine = next(q for q in queues if q["name"] == queue)
    assert mine["paused"] is True and mine["counts"]["pending"] == 2
    paused_lease = httpx.post(
        f"{server_url}/v1/workers/lease", json={"worker_id": "cli-test", "queues": [queue]}
    )
    assert paused_lease.json() == {"leases": []}
    resumed = cli_json("queues", "resume", queue, url=server_url)
    assert isinstance(resumed, dict) and resumed["paused"] is False
    assert resumed["oldest_ready_seconds"] is not None


def test_queues_errors_are_one_line(server_url: str) -> None:  # noqa: F811
    result = cli("queues", "pause", "x" * 300, url=server_url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: name:") and result.stderr.count("\n") == 1
    unreachable = cli("queues", "list", url="http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach the server" in unreachable.stderr
