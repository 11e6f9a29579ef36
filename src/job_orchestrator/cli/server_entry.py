"""`python -m job_orchestrator.cli.server_entry`: the server command without the full CLI.

Tests and process supervisors start the server this way; it is the same command as
`orchestrator server`.
"""

from __future__ import annotations

import typer

from job_orchestrator.cli.server_commands import server

if __name__ == "__main__":
    typer.run(server)
