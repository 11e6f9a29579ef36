"""Presenting results: the rich table, the JSON file and the PNG curve."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import SystemResult, Workload, package_version

OURS = "job-orchestrator"


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _short_config(config: dict[str, Any]) -> str:
    # Each system puts a one-line summary first; the full config follows the table.
    return str(config.get("summary", "-"))


def ratio_to_ours(result: SystemResult, ours: SystemResult | None) -> str:
    """This system's processing throughput as a multiple of ours."""
    if ours is None or ours.process_jobs_per_s is None:
        return "n/a (ours not measured)"
    if result.process_jobs_per_s is None:
        return "-"
    return f"{result.process_jobs_per_s / ours.process_jobs_per_s:.2f}x"


def print_table(console: Console, results: list[SystemResult]) -> None:
    ours = next((r for r in results if r.name == OURS), None)
    table = Table(title="Job systems on the same workload (higher jobs/s is better)")
    for col in (
        "system",
        "config",
        "enqueue batch jobs/s",
        "enqueue single jobs/s",
        "process jobs/s",
        "pickup p50/p99 ms",
        "CPU s / 1k jobs",
        "process vs us",
    ):
        table.add_column(col, overflow="fold")
    for r in results:
        if r.skipped:
            table.add_row(r.name, f"[yellow]skipped: {r.skipped}[/]", *["-"] * 6)
            continue
        table.add_row(
            r.name,
            _short_config(r.config),
            _fmt(r.enqueue_batch_jobs_per_s),
            _fmt(r.enqueue_single_jobs_per_s),
            _fmt(r.process_jobs_per_s),
            f"{_fmt(r.pickup_p50_ms, 1)} / {_fmt(r.pickup_p99_ms, 1)}",
            _fmt(r.cpu_s_per_1k_jobs, 3),
            ratio_to_ours(r, ours) if r.name != OURS else "1.00x",
        )
    console.print(table)
    for r in results:
        console.print(f"[bold]{r.name}[/] config: {json.dumps(r.config)}")
        for key, figures in r.details.items():
            if key.startswith("batch_"):  # the raw limit's per-batch-size figures
                console.print(f"  raw claim+complete {key}: {json.dumps(figures)}")


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")),
                cpu_model,
            )
    except OSError:
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as fh:
            mem_kb = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "asyncpg": package_version("asyncpg"),
        "note": "shared machine: other processes may have competed for the CPUs",
    }


def write_json(
    path: Path, results: list[SystemResult], workload: Workload, extra_machine: dict[str, Any]
) -> None:
    doc = {
        "systems": {r.name: r.to_json() for r in results},
        "machine": {**machine_info(), **extra_machine},
        "workload": workload.__dict__,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def draw_png(path: Path, results: list[SystemResult]) -> bool:
    """Completed jobs over time (from each system's first lease); False if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    curves = [r for r in results if r.curve and not r.skipped]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for r in curves:
        style = "--" if r.name == "raw_sql_limit" else "-"
        name = "raw SQL limit, batch 100" if r.name == "raw_sql_limit" else r.name
        label = f"{name} ({_fmt(r.process_jobs_per_s)} jobs/s)"
        ax.plot(r.curve, range(1, len(r.curve) + 1), style, label=label, linewidth=1.6)
    ax.set_xlabel("seconds since first lease")
    ax.set_ylabel("jobs completed")
    ax.set_title("Processing no-op jobs with 20 concurrent workers")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
