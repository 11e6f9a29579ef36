"""Domain value objects: immutable to the type checker, plain slotted dataclasses at run time
(see domain/value.py for why)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from mypy import api as mypy_api

from job_orchestrator.domain.models import Lease, NewJob
from job_orchestrator.domain.retry import RetryPolicy


def test_value_objects_compare_and_hash_by_value() -> None:
    assert RetryPolicy(1.0, 2.0, 3.0, False) == RetryPolicy(1.0, 2.0, 3.0, False)
    assert len({RetryPolicy(), RetryPolicy()}) == 1
    now = datetime(2026, 1, 1, tzinfo=UTC)
    lease = Lease(1, "t", 1, now, None, "q", "t", None, None, 30.0, None, now, now)
    assert hash(lease) == hash(
        Lease(1, "t", 1, now, None, "q", "t", None, None, 30.0, None, now, now)
    )
    assert not hasattr(NewJob(type="t"), "__dict__")  # slotted


def test_the_type_checker_refuses_to_change_a_field(tmp_path: Path) -> None:
    snippet = tmp_path / "mutates.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from job_orchestrator.domain.models import NewJob
            from job_orchestrator.domain.retry import RetryPolicy

            job = NewJob(type="t")
            job.priority = 3
            RetryPolicy().jitter = False
            """
        )
    )
    out, _err, status = mypy_api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), str(snippet)]
    )
    assert status == 1, out
    assert out.count("is read-only") == 2, out
