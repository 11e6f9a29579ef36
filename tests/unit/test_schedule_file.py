"""The schedules file of ``orchestrator schedules apply``: a good file, and every mistake told
in one line that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from job_orchestrator.cli._schedule_file import ScheduleFileError, load

GOOD = """
[schedules.nightly-report]
cron = "0 3 * * *"
timezone = "Europe/Berlin"
overlap = "allow"
catchup_window_seconds = 3600

[schedules.nightly-report.job]
type = "reports.nightly"
queue = "reports"
payload = { format = "pdf", pages = [1, 2] }

[schedules.heartbeat]
every_seconds = 30
paused = true
job = { type = "ping" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.toml"
    path.write_text(text)
    return path


def test_a_good_file_gives_one_spec_per_table(tmp_path: Path) -> None:
    nightly, beat = load(write(tmp_path, GOOD))
    assert nightly.name == "nightly-report" and nightly.cron == "0 3 * * *"
    assert nightly.to_dict() == {
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
        "overlap": "allow",
        "catchup_window_seconds": 3600,
        "paused": False,
        "job": {
            "type": "reports.nightly",
            "queue": "reports",
            "payload": {"format": "pdf", "pages": [1, 2]},
        },
    }
    assert (beat.every_seconds, beat.paused, beat.timezone, beat.overlap) == (
        30,
        True,
        "UTC",
        "skip",
    )
    assert beat.catchup_window_seconds == 60 and nightly.paused is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[schedules.a\n", "not valid TOML"),
        ("[jobs.a]\n", "jobs: unknown top-level key"),
        ("schedules = 3\n", "schedules: must be a table"),
        ('[schedules.a]\ncrn = "* * * * *"\n', "schedules.a.crn: unknown field"),
        ("[schedules.a]\njob = {type = 'x'}\n", "schedules.a: give exactly one of cron"),
        (
            "[schedules.a]\ncron = '* * * * *'\nevery_seconds = 5\njob = {type = 'x'}\n",
            "schedules.a: give exactly one of cron",
        ),
        (
            "[schedules.a]\nevery_seconds = true\njob = {type='x'}\n",
            "every_seconds: must be an integer",
        ),
        (
            "[schedules.a]\nevery_seconds = 0\njob = {type='x'}\n",
            "every_seconds: must be at least 1",
        ),
        ("[schedules.a]\ncron = 5\njob = {type='x'}\n", "schedules.a.cron: must be a string"),
        ("[schedules.a]\nevery_seconds = 5\n", "schedules.a.job: missing"),
        ("[schedules.a]\nevery_seconds = 5\njob = {queue='q'}\n", "schedules.a.job.type: required"),
        (
            "[schedules.a]\nevery_seconds = 5\njob = {type='x', delay_seconds=3}\n",
            "schedules.a.job.delay_seconds: not allowed",
        ),
        (
            "[schedules.a]\nevery_seconds = 5\noverlap = 'queue'\njob = {type='x'}\n",
            "schedules.a.overlap: must be skip or allow",
        ),
        (
            "[schedules.a]\nevery_seconds = 5\ncatchup_window_seconds = -1\njob = {type='x'}\n",
            "schedules.a.catchup_window_seconds: must be 0 to 31536000",
        ),
        (
            "[schedules.a]\nevery_seconds = 5\npaused = 'yes'\njob = {type='x'}\n",
            "schedules.a.paused: must be true or false",
        ),
        (
            "[schedules.a]\nevery_seconds = 5\njob = {type='x', payload={d=2024-01-01}}\n",
            "schedules.a.job.payload.d: a TOML date has no JSON form",
        ),
    ],
)
def test_each_mistake_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScheduleFileError) as raised:
        load(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScheduleFileError, match="cannot read"):
        load(tmp_path / "absent.toml")
