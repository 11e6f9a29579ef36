"""API keys and scopes.

Keys come from ``ORCHESTRATOR_API_KEYS`` (``scope[+scope]:key`` entries, comma-separated) and
from the database (``orchestrator keys create``, through ``services/keys.py``, which keeps only
their SHA-256 hash). A request's key is hashed and looked up; the hash found is compared with
``hmac.compare_digest``.
Auth may be off only on a loopback address (checked at start-up).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from job_orchestrator.api.errors import Forbidden, Unauthorized
from job_orchestrator.services.keys import KeyService, StoredKey, hash_key, key_id_of

# Database keys are looked up at most this often per process; a revocation takes effect within.
KEY_CACHE_SECONDS = 5.0


class Scope(StrEnum):
    PRODUCER = "producer"
    WORKER = "worker"
    READER = "reader"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str | None  # None when auth is off
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def sees_only_own_jobs(self) -> bool:
        """A producer-only key reads and cancels the jobs it created, nothing else."""
        return not (self.allows(Scope.READER) or self.allows(Scope.ADMIN))


ANONYMOUS_ADMIN = Principal(key_id=None, scopes=frozenset({Scope.ADMIN}))


def parse_scopes(text: str) -> frozenset[str]:
    scopes = frozenset(part.strip() for part in text.split("+") if part.strip())
    unknown = scopes - set(Scope)
    if not scopes or unknown:
        raise ValueError(
            f"unknown scope(s) {sorted(unknown) or text!r}: use {', '.join(Scope)} joined by +"
        )
    return scopes


def parse_env_keys(spec: str | None) -> dict[str, Principal]:
    """``producer:abc,worker+reader:def`` -> {sha256(key): Principal}."""
    keys: dict[str, Principal] = {}
    for entry in (spec or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        scopes_text, sep, key = entry.partition(":")
        if not sep or not key:
            raise ValueError(f"ORCHESTRATOR_API_KEYS entry {entry[:12]!r}… is not scope:key")
        digest = hash_key(key)
        keys[digest] = Principal(key_id=f"env:{digest[:12]}", scopes=parse_scopes(scopes_text))
    return keys


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(
        self, keys: KeyService, env_keys: dict[str, Principal], *, enabled: bool | None
    ) -> None:
        self.keys = keys
        self.env_keys = list(env_keys.items())
        self.enabled = enabled
        self._cache: dict[str, tuple[float, StoredKey | None]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        if self.enabled is None:  # the database was down at start-up: ask it now
            self.enabled = await self.keys.count_active() > 0
        if not self.enabled:
            return ANONYMOUS_ADMIN
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        digest = hash_key(key)
        principal = self._env_key(digest) or await self._database_key(key, digest)
        if principal is None:
            raise Unauthorized("the API key is not valid")
        return principal

    def _env_key(self, digest: str) -> Principal | None:
        found = None
        for known, principal in self.env_keys:  # no early exit: same work for every key
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    async def _database_key(self, key: str, digest: str) -> Principal | None:
        key_id = key_id_of(key)
        if key_id is None:
            return None
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[0] <= now:
            record = await self.keys.find(key_id)
            if len(self._cache) > 10_000:  # bounded: made-up ids must not grow memory forever
                self._cache.clear()
            self._cache[key_id] = (now + KEY_CACHE_SECONDS, record)
        else:
            record = cached[1]
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            return None
        return Principal(key_id=f"key:{key_id}", scopes=record.scopes)


bearer = HTTPBearer(auto_error=False, description="An API key: Authorization: Bearer <key>")


def require(
    *scopes: Scope,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A route dependency: the caller's key must carry one of ``scopes`` (admin has all)."""

    async def dependency(
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # documents it
    ) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request.headers.get("authorization"))
        if not any(principal.allows(scope) for scope in scopes):
            raise Forbidden(
                f"this call needs the {' or '.join(s.value for s in scopes)} scope",
                details={"needs": [s.value for s in scopes]},
            )
        request.state.principal = principal
        return principal

    return dependency


# Route parameter types: ``principal: Producer`` and so on.
Producer = Annotated[Principal, Depends(require(Scope.PRODUCER))]
ProducerOrReader = Annotated[Principal, Depends(require(Scope.PRODUCER, Scope.READER))]
Reader = Annotated[Principal, Depends(require(Scope.READER))]
Worker = Annotated[Principal, Depends(require(Scope.WORKER))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
