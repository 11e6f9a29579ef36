"""API keys kept in the database: their format, their hash, and the calls that keep them.

A database key reads ``jo_<id>_<secret>``: the id finds the row, and only the SHA-256 hash of
the whole key is stored (the store's ``hash_token``, the one hash for keys and lease tokens).
The API authenticates with ``find``; ``orchestrator keys`` creates, lists and revokes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from job_orchestrator.domain.models import ApiKeyRecord
from job_orchestrator.store.base import Store
from job_orchestrator.store.rows import hash_token

KEY_PREFIX = "jo"
KEY_ID_BYTES = 6  # 12 hex digits: the key's public name
KEY_SECRET_BYTES = 32
MAX_KEY_ID = 64  # longer ids are cut before the look-up: a made-up key costs one short query


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key_id: str
    key: str  # the whole key, shown once and never stored
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_hash: str
    scopes: frozenset[str]


hash_key = hash_token  # not a second hash: keys and lease tokens are hashed alike


def new_key() -> tuple[str, str]:
    """A fresh (id, key)."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"


def key_id_of(key: str) -> str | None:
    """The id in a ``jo_<id>_<secret>`` key, or None when the key is not of that form."""
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id[:MAX_KEY_ID]


class KeyService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, *, scopes: Iterable[str], name: str | None) -> CreatedKey:
        key_id, key = new_key()
        ordered = tuple(sorted({str(scope) for scope in scopes}))
        await self._store.create_api_key(
            key_id=key_id, key_hash=hash_key(key), scopes=ordered, name=name
        )
        return CreatedKey(key_id=key_id, key=key, scopes=ordered)

    async def find(self, key_id: str) -> StoredKey | None:
        """The active key with this id: its hash, to compare, and its scopes."""
        found = await self._store.find_api_key(key_id)
        return None if found is None else StoredKey(key_hash=found[0], scopes=frozenset(found[1]))

    async def revoke(self, key_id: str) -> bool:
        """False when no active key has this id."""
        return await self._store.revoke_api_key(key_id)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return await self._store.list_api_keys()

    async def count_active(self) -> int:
        return await self._store.count_active_api_keys()
