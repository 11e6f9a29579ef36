"""Running the API under uvicorn (uvloop, httptools), one or several processes."""

from __future__ import annotations

import os

import uvicorn

from job_orchestrator.settings import Settings


def serve(settings: Settings) -> None:
    if settings.should_auto_migrate:
        from job_orchestrator.store.migrate import migrate

        # Once, before the worker processes start, so they never race on a fresh file.
        migrate(settings.resolved_database_url)
    # Worker processes re-read their settings from the environment.
    os.environ["ORCHESTRATOR_DATABASE_URL"] = settings.resolved_database_url
    os.environ["ORCHESTRATOR_AUTO_MIGRATE"] = "false"
    for name, value in settings.model_dump(exclude={"database_url", "auto_migrate"}).items():
        if value is not None:
            os.environ[f"ORCHESTRATOR_{name.upper()}"] = str(value)
    uvicorn.run(
        "job_orchestrator.api.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
