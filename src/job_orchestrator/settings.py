"""Server configuration: flags override ``ORCHESTRATOR_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from job_orchestrator.domain.retention import RetentionPolicy, parse_retention
from job_orchestrator.store.urls import dialect_of, normalize_database_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCHESTRATOR_", extra="ignore")

    # No URL: an embedded SQLite file in the working directory (zero setup).
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ORCHESTRATOR_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    # Migrate on start: the default is yes for SQLite (embedded), no for PostgreSQL, where
    # schema changes are a deliberate step (`orchestrator migrate`).
    auto_migrate: bool | None = None

    reaper_interval: float = Field(default=1.0, gt=0)
    reaper_batch_size: int = Field(default=500, ge=1, le=10_000)
    leader_ttl: float = Field(default=10.0, gt=0)
    # After a database outage, let workers' retried heartbeats and completions land before
    # expiring leases: attempts must not be burnt by the orchestrator's own outage.
    reaper_recovery_grace: float = Field(default=10.0, ge=0)
    # Long polls wake on notifications, and on a timer per group set from the earliest due
    # run_at; a group goes at most this long without a look (the safety net).
    poll_interval: float = Field(default=5.0, gt=0)
    # Long polls (lease and job waits) are held at most this long, whatever the client asks:
    # keep it under the idle timeout of any proxy in front of the server.
    max_wait_seconds: float = Field(default=30.0, ge=0, le=30)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    # PostgreSQL behind a transaction pooler (docs/deploy.md): auto detects one on the first
    # connection; transaction / off say so. Without a direct listen URL there, other processes'
    # enqueues are seen by polling (poll_interval) instead of by NOTIFY.
    pgbouncer: Literal["auto", "transaction", "off"] = "auto"
    listen_database_url: str | None = None

    # Auth: `scope[+scope]:key` entries; keys created with `orchestrator keys create` count too.
    api_keys: str | None = None
    require_auth: bool = False
    metrics_open: bool = False  # let Prometheus scrape /metrics without a key
    # Requests per second per API key (or client address) on enqueue and lease; None: off on
    # loopback, 200/s elsewhere. 0 turns it off everywhere.
    rate_limit: float | None = Field(default=None, ge=0)
    rate_limit_burst: int = Field(default=400, ge=1)
    cors_origins: str | None = None  # comma-separated; CORS is closed by default

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_field_bytes: int = Field(default=256 * 1024, ge=1024)

    # Retention of terminal jobs after finished_at: 90s, 15m, 12h, 7d or forever.
    retain_succeeded: str = "7d"
    retain_cancelled: str = "7d"
    retain_dlq: str = "30d"
    # The cleaner runs this often (leader only), so a job goes within 10 s of its period's end;
    # each DELETE takes at most cleaner_batch_size jobs.
    cleaner_interval: float = Field(default=2.0, gt=0, le=8)
    cleaner_batch_size: int = Field(default=1000, ge=1, le=10_000)

    @field_validator("retain_succeeded", "retain_cancelled", "retain_dlq")
    @classmethod
    def _retention_period(cls, value: str) -> str:
        parse_retention(value)  # ValueError: the message names the accepted forms
        return value

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            succeeded_seconds=parse_retention(self.retain_succeeded),
            cancelled_seconds=parse_retention(self.retain_cancelled),
            dlq_seconds=parse_retention(self.retain_dlq),
        )

    @property
    def resolved_database_url(self) -> str:
        return normalize_database_url(self.database_url)

    @property
    def dialect(self) -> str:
        return dialect_of(self.resolved_database_url)

    @property
    def should_auto_migrate(self) -> bool:
        if self.auto_migrate is not None:
            return self.auto_migrate
        return self.dialect == "sqlite"


def settings_error_line(error: ValidationError) -> str:
    """A settings error as one line naming the environment variables, for a startup failure."""
    parts = []
    for item in error.errors():
        name = "ORCHESTRATOR_" + "_".join(str(part) for part in item.get("loc", ())).upper()
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "invalid settings: " + "; ".join(parts)
