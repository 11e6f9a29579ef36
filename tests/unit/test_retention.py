"""Retention periods: the pure parser and the settings that use it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from job_orchestrator.domain.retention import RetentionPolicy, parse_retention
from job_orchestrator.domain.states import JobState
from job_orchestrator.settings import Settings, settings_error_line


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("12h", 43_200.0),
        ("7d", 604_800.0),
        ("30d", 2_592_000.0),
        ("1s", 1.0),
        (" 7D ", 604_800.0),
        ("forever", None),
        ("FOREVER", None),
    ],
)
def test_periods(text: str, seconds: float | None) -> None:
    assert parse_retention(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "7", "d", "7w", "1.5h", "-5m", "0s", "7 d", "never", "7d12h", "1234567890s"]
)
def test_bad_periods_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"90s|zero"):
        parse_retention(text)


def test_defaults_keep_a_week_and_the_dlq_a_month() -> None:
    policy = Settings().retention
    assert policy == RetentionPolicy(604_800.0, 604_800.0, 2_592_000.0)
    assert [state for state, _ in policy.periods()] == [
        JobState.SUCCEEDED,
        JobState.CANCELLED,
        JobState.DLQ,
    ]


def test_forever_states_are_never_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_RETAIN_SUCCEEDED", "30s")
    monkeypatch.setenv("ORCHESTRATOR_RETAIN_DLQ", "forever")
    policy = Settings().retention
    assert policy.periods() == [(JobState.SUCCEEDED, 30.0), (JobState.CANCELLED, 604_800.0)]


def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_RETAIN_CANCELLED", "3 weeks")
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = settings_error_line(caught.value)
    assert "\n" not in line
    assert line.startswith("invalid settings: ORCHESTRATOR_RETAIN_CANCELLED: '3 weeks'")
