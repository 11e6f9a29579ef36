"""Browser tests: the real server (a subprocess on 127.0.0.1) driven by Debian's Chromium.

Playwright's own browser download cannot work offline, so the tests launch the system
``chromium`` (``make ui-deps`` installs it). Without it, or without the playwright package, the
browser tests skip with the reason, except with CI=true, where they fail.

Screenshots of every page land in ``test-artifacts/ui/`` (``UI_ARTIFACTS_DIR`` to change it);
with ``UPDATE_README_SCREENSHOTS=1`` the busy overview and the job page are also copied to
``docs/images/`` for the README.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.support.databases import IN_CI, SqliteTemplate
from tests.support.server import run_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("UI_ARTIFACTS_DIR", ROOT / "test-artifacts" / "ui"))
README_IMAGES = ROOT / "docs" / "images"
README_SCREENSHOTS = {"overview-busy": "dashboard-overview.png", "job": "dashboard-job.png"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class Server:
    """The real server process, with a plain HTTP client for its API."""

    def __init__(self, base_url: str, process: subprocess.Popen[bytes] | None, log: Path) -> None:
        self.base_url = base_url
        self.process = process
        self.log = log
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def enqueue(self, type_: str, *, queue: str, **fields: Any) -> dict[str, Any]:
        response = self.http.post("/v1/jobs", json={"type": type_, "queue": queue, **fields})
        assert response.status_code == 201, response.text
        job: dict[str, Any] = response.json()
        return job

    def lease(self, worker: str, queue: str, count: int = 1) -> list[dict[str, Any]]:
        body = {"worker_id": worker, "queues": [queue], "max_jobs": count, "wait_seconds": 2}
        response = self.http.post("/v1/workers/lease", json=body)
        assert response.status_code == 200, response.text
        leases: list[dict[str, Any]] = response.json()["leases"]
        assert len(leases) == count, leases
        return leases

    def complete(self, lease: dict[str, Any], result: Any) -> None:
        body = {"lease_token": lease["lease_token"], "result": result}
        response = self.http.post(f"/v1/jobs/{lease['job_id']}/complete", json=body)
        assert response.status_code == 200, response.text

    def fail(self, lease: dict[str, Any], message: str, *, retryable: bool = True) -> str:
        error = {"message": message, "type": "RuntimeError", "retryable": retryable}
        if retryable:
            error["retry_after_seconds"] = 0
        body = {"lease_token": lease["lease_token"], "error": error}
        response = self.http.post(f"/v1/jobs/{lease['job_id']}/fail", json=body)
        assert response.status_code == 200, response.text
        state: str = response.json()["state"]
        return state

    def state(self, job_id: str) -> str:
        response = self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        state: str = response.json()["state"]
        return state

    def dead_job(self, queue: str, message: str, **fields: Any) -> str:
        """A job that failed for good: enqueued, leased, failed without retry."""
        job = self.enqueue("charge", queue=queue, max_attempts=1, **fields)
        (lease,) = self.lease(f"worker-{queue}", queue)
        assert lease["job_id"] == job["id"]
        assert self.fail(lease, message, retryable=False) == "dlq"
        return str(job["id"])


@contextlib.contextmanager
def _real_server(database_url: str) -> Iterator[Server]:
    """The real ``orchestrator server`` command (tests/support/server.py)."""
    with run_server(database_url, env={"ORCHESTRATOR_POLL_INTERVAL": "0.2"}) as process:
        server = Server(process.url, process.process, process.log_path)
        try:
            yield server
        finally:
            server.http.close()


@pytest.fixture(scope="session")
def ui_server(sqlite_template: SqliteTemplate) -> Iterator[Server]:
    fresh = sqlite_template.fresh()
    database_url = next(fresh)
    try:
        with contextlib.ExitStack() as stack:
            yield stack.enter_context(_real_server(database_url))
    finally:
        with contextlib.suppress(StopIteration):
            next(fresh)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; checked before the server starts, so a skip costs nothing."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable(
            "the browser tests need Debian's chromium: run `make ui-deps` as root "
            "(apt-get install chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the browser tests need the playwright package: run `make install`")
    return executable


@pytest.fixture(scope="module")
def browser(chromium: str, ui_server: Server) -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, which would break later asyncio tests; the server (and the migrated database
    template it copies) must exist first for the same reason."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        the_browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield the_browser
        finally:
            the_browser.close()


@pytest.fixture
def page(chromium: str, ui_server: Server, browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=ui_server.base_url, viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(10_000)
    the_page = context.new_page()
    problems: list[str] = []
    the_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    the_page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    the_page.on("dialog", lambda dialog: dialog.accept())  # confirmations: yes
    try:
        yield the_page
    finally:
        context.close()
    assert not problems, problems  # no script errors, no CSP violations


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (and for the README when asked)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    readme_name = README_SCREENSHOTS.get(name)
    if readme_name and os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_IMAGES / readme_name)
    return path
