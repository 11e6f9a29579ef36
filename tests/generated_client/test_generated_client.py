"""A client generated from the live /openapi.json by a real generator drives a job through.

openapi-python-client (pinned in ``requirements.txt``, installed by ``make test`` into
``tests/generated_client/.venv`` so that its own pins never constrain the project's) turns the
document a real server publishes into a typed package; the test then enqueues, leases,
heartbeats, completes and reads a job with it, and checks that error answers come back typed
as the envelope. If the document drifts from what the server does, the generated code fails
to parse an answer (or to exist), and so does this test.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.server import run_server

HERE = Path(__file__).parent
GENERATOR = HERE / ".venv" / "bin" / "openapi-python-client"
PACKAGE = "orchestrator_generated_client"
CONFIG = f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"

pytestmark = pytest.mark.slow


def require_generator() -> None:
    if GENERATOR.exists():
        return
    reason = f"{GENERATOR} is missing: `make test` installs it (requirements.txt beside this file)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Generated:
    """The generated package, made once per document (both backends publish the same one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.document: str | None = None
        self.count = 0

    def for_document(self, document: str) -> ModuleType:
        if document != self.document:
            self._generate(document)
        return importlib.import_module(PACKAGE)

    def _generate(self, document: str) -> None:
        self.count += 1
        target = self.directory / f"run{self.count}"
        target.mkdir()
        (target / "openapi.json").write_text(document)
        (target / "config.yaml").write_text(CONFIG)
        done = subprocess.run(
            [
                str(GENERATOR),
                "generate",
                "--path",
                str(target / "openapi.json"),
                "--config",
                str(target / "config.yaml"),
                "--meta",
                "none",
                "--output-path",
                str(target / PACKAGE),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        # The generator warns about what it could not type; a clean document has no warning.
        assert "Warning" not in output and "Error" not in output, output
        self.forget()
        sys.path.insert(0, str(target))
        self.document = document

    def forget(self) -> None:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        sys.path[:] = [p for p in sys.path if not p.startswith(str(self.directory))]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    require_generator()
    package = Generated(tmp_path_factory.mktemp("generated-client"))
    yield package
    package.forget()


def module(client: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{client.__name__}.{name}")


def test_generated_client_drives_a_lease_cycle(database_url: str, generated: Generated) -> None:
    with run_server(database_url) as server:
        url = server.url
        document = httpx.get(f"{url}/openapi.json", timeout=10).raise_for_status().text
        client_package = generated.for_document(document)
        models = module(client_package, "models")
        producers = "api.producers"
        enqueue_job = module(client_package, f"{producers}.enqueue_job")
        get_job = module(client_package, f"{producers}.get_job")
        lease_jobs = module(client_package, "api.workers.lease_jobs")
        heartbeat_job = module(client_package, "api.workers.heartbeat_job")
        complete_job = module(client_package, "api.workers.complete_job")
        fail_job = module(client_package, "api.workers.fail_job")
        client = client_package.Client(base_url=url, raise_on_unexpected_status=True)

        with client:
            enqueued = enqueue_job.sync_detailed(
                client=client, body=models.EnqueueRequest(type_="gen", payload={"n": 1})
            )
            assert enqueued.status_code == 201, enqueued.content
            job = enqueued.parsed
            assert isinstance(job, models.JobOut)
            assert job.state == models.JobState.PENDING and job.queue == "default"

            # queues left out: the documented default ["default"] is what the server uses.
            leased = lease_jobs.sync(
                client=client, body=models.LeaseRequestModel(worker_id="gen-w")
            )
            assert isinstance(leased, models.LeaseListOut)
            (lease,) = leased.leases
            assert lease.job_id == job.id and lease.payload == {"n": 1} and lease.attempt == 1

            beat = heartbeat_job.sync(
                job.id,
                client=client,
                body=models.HeartbeatRequest(lease_token=lease.lease_token, details={"done": 1}),
            )
            assert isinstance(beat, models.HeartbeatOut) and beat.cancel_requested is False

            completed = complete_job.sync(
                job.id,
                client=client,
                body=models.CompleteRequest(lease_token=lease.lease_token, result={"ok": True}),
            )
            assert isinstance(completed, models.JobOut)
            assert completed.state == models.JobState.SUCCEEDED

            got = get_job.sync(job.id, client=client)
            assert isinstance(got, models.JobOut)
            assert got.result == {"ok": True} and got.heartbeat_details == {"done": 1}

            # Error answers are typed as the envelope, whatever their status.
            again = complete_job.sync_detailed(
                job.id,
                client=client,
                body=models.CompleteRequest(
                    lease_token=lease.lease_token, result={}, idempotency_key="other"
                ),
            )
            assert again.status_code == 409 and isinstance(again.parsed, models.ErrorOut)
            assert again.parsed.error.code == "already_completed"
            missing = get_job.sync_detailed("999999999", client=client)
            assert missing.status_code == 404 and isinstance(missing.parsed, models.ErrorOut)
            invalid = enqueue_job.sync_detailed(
                client=client, body=models.EnqueueRequest(type_="gen", priority=99)
            )
            assert invalid.status_code == 422 and isinstance(invalid.parsed, models.ErrorOut)
            (field,) = invalid.parsed.error.details
            assert isinstance(field, models.FieldErrorOut) and "priority" in field.field

            # last_error has its shape.
            doomed = enqueue_job.sync(
                client=client, body=models.EnqueueRequest(type_="gen", max_attempts=1)
            )
            (second,) = lease_jobs.sync(
                client=client, body=models.LeaseRequestModel(worker_id="gen-w")
            ).leases
            failed = fail_job.sync(
                doomed.id,
                client=client,
                body=models.FailRequest(
                    lease_token=second.lease_token,
                    error=models.ErrorInfoModel(message="boom", type_="Boom"),
                ),
            )
            assert isinstance(failed, models.JobOut) and failed.state == models.JobState.DLQ
            assert isinstance(failed.last_error, models.JobErrorOut)
            assert failed.last_error.message == "boom" and failed.last_error.attempt == 1
