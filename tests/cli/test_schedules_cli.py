"""``orchestrator schedules …`` as a subprocess against a real server (SQLite)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from job_orchestrator.sdk import Client
from tests.cli.test_cli import cli, cli_json, server_url  # noqa: F401  (the module's server)

pytestmark = pytest.mark.slow

FILE = """
[schedules.{a}]
cron = "0 3 * * *"
timezone = "Europe/Berlin"
[schedules.{a}.job]
type = "reports.nightly"
queue = "{queue}"
payload = {{ format = "pdf" }}

[schedules.{b}]
every_seconds = 3600
job = {{ type = "ping", queue = "{queue}" }}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.toml"
    path.write_text(text)
    return path


def test_apply_dry_run_then_apply_then_prune(server_url: str, tmp_path: Path) -> None:  # noqa: F811
    with Client(server_url) as client:
        for old in client.list_schedules():
            client.delete_schedule(old.name)
    tag = uuid.uuid4().hex[:6]
    a, b, queue = f"a-{tag}", f"b-{tag}", f"q-{tag}"
    path = write(tmp_path, FILE.format(a=a, b=b, queue=queue))
    dry = cli("schedules", "apply", str(path), "--dry-run", url=server_url)
    assert dry.returncode == 0, dry.stderr
    assert f"+ {a} (would create)" in dry.stdout and "dry run, nothing changed" in dry.stdout
    assert cli_json("schedules", "list", url=server_url) == {"schedules": []}
    done = cli_json("schedules", "apply", str(path), url=server_url)
    assert done == {
        "created": [a, b],
        "updated": [],
        "unchanged": [],
        "deleted": [],
        "dry_run": False,
    }
    again = cli_json("schedules", "apply", str(path), url=server_url)
    assert again["unchanged"] == [a, b]  # type: ignore[index]
    only_b = write(
        tmp_path,
        f'[schedules.{b}]\nevery_seconds = 3600\njob = {{ type = "ping", queue = "{queue}" }}\n',
    )
    pruned = cli("schedules", "apply", str(only_b), "--prune", url=server_url)
    assert pruned.returncode == 0, pruned.stderr
    assert f"- {a} (deleted)" in pruned.stdout and f"= {b} (unchanged)" in pruned.stdout


def test_list_show_pause_resume_trigger_delete(server_url: str, tmp_path: Path) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    a, b, queue = f"a-{tag}", f"b-{tag}", f"q-{tag}"
    assert (
        cli(
            "schedules",
            "apply",
            str(write(tmp_path, FILE.format(a=a, b=b, queue=queue))),
            url=server_url,
        ).returncode
        == 0
    )
    table = cli("schedules", "list", url=server_url)
    assert a in table.stdout and "cron 0 3 * * * (Europe/Berlin)" in table.stdout
    assert "every 3600 s" in table.stdout
    shown = cli("schedules", "show", a, url=server_url)
    assert "Europe/Berlin" in shown.stdout and "reports.nightly" in shown.stdout
    assert cli_json("schedules", "pause", a, url=server_url)["paused"] is True  # type: ignore[index]
    assert "is active" in cli("schedules", "resume", a, url=server_url).stdout
    triggered = cli_json("schedules", "trigger", b, url=server_url)
    assert triggered["queue"] == queue and triggered["schedule"] == b  # type: ignore[index]
    assert cli("schedules", "delete", a, url=server_url).stdout.strip() == f"deleted schedule {a}"
    missing = cli("schedules", "show", a, url=server_url)
    assert missing.returncode == 1 and "not_found" in missing.stderr


def test_a_bad_file_is_one_line_naming_the_field_and_nothing_is_sent(
    server_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = write(tmp_path, '[schedules.x]\ncron = "* * * * *"\nevery_secs = 5\njob = {type="t"}\n')
    result = cli("schedules", "apply", str(path), url=server_url)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: schedules.x.every_secs: unknown field"
    broken = cli("schedules", "apply", str(write(tmp_path, "[schedules")), url=server_url)
    assert broken.returncode == 2 and "not valid TOML" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1


def test_a_value_only_the_server_can_judge_is_its_422_with_the_schedule_named(
    server_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '[schedules.tz-typo]\ncron = "@daily"\ntimezone = "Europe/Berln"\njob = {type="t"}\n',
    )
    result = cli("schedules", "apply", str(path), url=server_url)
    assert result.returncode == 1
    assert "schedule tz-typo:" in result.stderr and "timezone" in result.stderr
