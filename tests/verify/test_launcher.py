"""The one launcher's environment rule: the developer's server settings never reach a child."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from job_orchestrator.verify.launcher import Processes, child_environment


def test_the_developers_settings_are_stripped_then_the_callers_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_API_KEYS", "mine:secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("UNRELATED", "kept")
    env = child_environment({"ORCHESTRATOR_POLL_INTERVAL": "0.1"})
    assert "ORCHESTRATOR_API_KEYS" not in env and "DATABASE_URL" not in env
    assert env["UNRELATED"] == "kept"
    assert env["ORCHESTRATOR_POLL_INTERVAL"] == "0.1"


def test_a_spawned_process_sees_only_what_the_caller_passed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_PORT", "1")
    show = "import os; print(os.environ.get('ORCHESTRATOR_PORT'), os.environ.get('ORCHESTRATOR_X'))"
    with Processes(tmp_path) as processes:
        child = processes.spawn(
            [sys.executable, "-c", show], log_name="child.log", env={"ORCHESTRATOR_X": "given"}
        )
        assert child.wait(timeout=30) == 0
        assert processes.log("child.log").split() == ["None", "given"]
