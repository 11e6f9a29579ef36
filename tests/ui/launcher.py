"""Run the real server with the dashboard for the browser tests: ``python -m tests.ui.launcher``.

Settings come from ``ORCHESTRATOR_*`` like the real server's. The dashboard router is included
here only while ``create_app`` does not include it yet (then this adds nothing).
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from job_orchestrator.api import ui
from job_orchestrator.api.app import create_app
from job_orchestrator.settings import Settings


def build() -> FastAPI:
    app = create_app(Settings())
    if not any(getattr(route, "path", "").startswith("/ui") for route in app.routes):
        app.include_router(ui.router)
    return app


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
