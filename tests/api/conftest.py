"""API fixtures: the real app (lifespan run, no background reaper) over ASGI, on both backends.

Tests move time instead of sleeping: ``reaper.run_once(now=...)`` and the store's ``now=``
arguments take a moved clock; ``await service.db_now()`` is the database clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from job_orchestrator.api.app import create_app
from job_orchestrator.services.jobs import JobService
from job_orchestrator.services.reaper import Reaper
from job_orchestrator.settings import Settings
from tests.support.databases import PostgresTemplate

BASE_URL = "http://orchestrator.test"


@asynccontextmanager
async def running_app(database_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The app with its lifespan run; the database is already migrated."""
    options: dict[str, Any] = {
        "database_url": database_url,
        "auto_migrate": False,
        "reaper_interval": 3600.0,
        # Long polls must be woken by notifications, not by the fallback poll: make it slow
        # enough that a missed wake-up shows up as a failed timing assertion.
        "poll_interval": 5.0,
    }
    options.update(overrides)
    app = create_app(Settings(**options), run_reaper=False)
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: an unexpected error shows up as the 500 a client would see.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30)


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    async with running_app(database_url) as the_app:
        yield the_app


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def service(app: FastAPI) -> JobService:
    svc: JobService = app.state.service
    return svc


@pytest.fixture
def reaper(app: FastAPI) -> Reaper:
    the_reaper: Reaper = app.state.reaper
    return the_reaper


@pytest.fixture
def postgres_url(postgres_template: PostgresTemplate) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (for tests that only make sense there)."""
    yield from postgres_template.fresh()
