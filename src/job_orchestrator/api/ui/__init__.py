"""The web dashboard, served by the API server at ``/ui``.

Wire it with ``app.include_router(ui.router)``: pages, actions and the shipped static files
(htmx, Chart.js, ours) are all routes of this one router, so nothing else needs mounting.
"""

from __future__ import annotations

from job_orchestrator.api.ui.pages import router

__all__ = ["router"]
