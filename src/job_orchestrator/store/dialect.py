"""The few places where PostgreSQL and SQLite SQL differ, so each statement is written once.

Time is the database's clock unless a statement is given ``:now`` (tests move time that way):
every time-sensitive statement reads ``{now}``, which is ``COALESCE(:now, <database clock>)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SqlDialect:
    name: str
    now: str
    json_type: str | None  # the type a JSON text parameter is cast to, if any
    for_update: str
    skip_locked: str

    def plus_seconds(self, timestamp: str, seconds: str) -> str:
        if self.name == "postgresql":
            return f"({timestamp} + CAST({seconds} AS double precision) * INTERVAL '1 second')"
        return f"({timestamp} + {seconds})"

    def any_of(self, column: str, param: str, sql_type: str) -> str:
        """``column`` is one of the list ``:param``. PostgreSQL binds the list as one array
        (one prepared statement whatever its length); SQLite expands it into ``IN (?, ?, …)``."""
        if self.name == "postgresql":
            return f"{column} = ANY(CAST(:{param} AS {sql_type}[]))"
        return f"{column} IN :{param}"

    def json(self, param: str) -> str:
        # CAST(...) rather than ``::jsonb``: SQLAlchemy's text() would misread ``:param::type``.
        return f"CAST(:{param} AS {self.json_type})" if self.json_type else f":{param}"

    def encode_time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value if self.name == "postgresql" else value.timestamp()

    def encode_time_json(self, value: datetime | None) -> Any:
        """A time inside a JSON parameter: ISO text for PostgreSQL, epoch seconds for SQLite."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat() if self.name == "postgresql" else value.timestamp()

    @staticmethod
    def decode_time(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return datetime.fromtimestamp(float(value), UTC)


POSTGRESQL = SqlDialect(
    name="postgresql",
    # statement_timestamp(): one instant for the whole statement, unlike clock_timestamp(), and
    # not frozen for the whole transaction like now().
    now="COALESCE(CAST(:now AS timestamptz), statement_timestamp())",
    json_type="json",
    for_update=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
)

SQLITE = SqlDialect(
    name="sqlite",
    # julianday('now') has millisecond precision and works on every SQLite 3.x.
    now="COALESCE(:now, (julianday('now') - 2440587.5) * 86400.0)",
    json_type=None,
    # SQLite has no row locks: claims and other writes run in BEGIN IMMEDIATE transactions,
    # which hold the database's single write lock for their whole duration.
    for_update="",
    skip_locked="",
)
