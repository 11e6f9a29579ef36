"""The server for the browser tests when tests/support/server.py (the real ``orchestrator
server`` command as a subprocess) is not there: ``python -m tests.ui.launcher``, the same
``create_app`` under uvicorn, settings from ``ORCHESTRATOR_*``.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from job_orchestrator.api.app import create_app
from job_orchestrator.settings import Settings


def build() -> FastAPI:
    return create_app(Settings())


def main() -> None:
    settings = Settings()
    uvicorn.run(
        build(),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
