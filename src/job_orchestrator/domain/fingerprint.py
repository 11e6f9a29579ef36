"""The idempotency fingerprint of an enqueue: a replay with the same key must be the same request.

The fields are listed one by one, not taken from a model dump, so a field added to ``NewJob``
later changes no fingerprint already stored: add it here only when it is not at its default.
The document is the one the API hashed before this function existed (pydantic's JSON form of
the request, times ending in ``Z`` for UTC), so keys stored by earlier versions still match.
``owner`` is not part of the request, and never was: it scopes the key instead
(``scoped_key``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from job_orchestrator import jsoncodec
from job_orchestrator.domain.models import NewJob


def fingerprint(job: NewJob) -> str:
    body: dict[str, Any] = {
        "type": job.type,
        "payload": job.payload,
        "queue": job.queue,
        "priority": job.priority,
        "run_at": _iso(job.run_at),
        "delay_seconds": job.delay_seconds,
        "max_attempts": job.max_attempts,
        "retry": {
            "initial_seconds": job.retry.initial_seconds,
            "multiplier": job.retry.multiplier,
            "max_seconds": job.retry.max_seconds,
            "jitter": job.retry.jitter,
        },
        "lease_seconds": job.lease_seconds,
        "timeout_seconds": job.timeout_seconds,
        "idempotency_key": job.idempotency_key,
    }
    return hashlib.sha256(jsoncodec.canonical(body)).hexdigest()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# Between owner and key in a stored key. Keys cannot hold NUL and PostgreSQL text neither, so a
# control character that no key id contains stands in; unowned keys (auth off) are stored bare.
_OWNER_SEPARATOR = "\x1f"


def scoped_key(job: NewJob) -> str | None:
    """The idempotency key as stored: per owner, so an API key reusing another's key (with an
    identical body) gets a job of its own, never the other owner's."""
    if job.idempotency_key is None or job.owner is None:
        return job.idempotency_key
    return f"{job.owner}{_OWNER_SEPARATOR}{job.idempotency_key}"
