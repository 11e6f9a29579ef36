"""PostgreSQL connections: what the engine setup asks a new connection, and readiness.

Module constants rather than a ``Queries`` attribute: the engine factory (``pg_engine.py``) runs
them before any store exists, and they have no SQLite counterpart.
"""

from __future__ import annotations

from sqlalchemy import text

# The backend this connection really runs on. A connection made straight to PostgreSQL was given
# the same pid in its startup reply (BackendKeyData); a pooler such as PgBouncer hands out
# a cancel key of its own, so the two differ.
BACKEND_PID = "SELECT pg_backend_pid()"

# Whether this database takes writes: off on a primary; on on a standby (a demoted primary that
# came back as a replica) and under default_transaction_read_only.
ACCEPTS_WRITES = text("SELECT current_setting('transaction_read_only') = 'off' AS writable")
