"""The database key format, written once in services/keys.py, and its one hash."""

from __future__ import annotations

import hashlib

import pytest

from job_orchestrator.services.keys import MAX_KEY_ID, hash_key, key_id_of, new_key
from job_orchestrator.store.rows import hash_token


def test_a_new_key_names_its_id_and_keys_differ() -> None:
    key_id, key = new_key()
    assert key_id_of(key) == key_id
    assert len(key_id) == 12 and key.startswith(f"jo_{key_id}_")
    assert len(key) > 50  # 256 random bits after the id
    assert new_key() != new_key()


@pytest.mark.parametrize(
    "key",
    ["", "jo", "jo_", "jo_abc", "jo_abc_", "jo__secret", "xx_abc_secret", "abc", "Bearer jo_a_b"],
)
def test_keys_of_another_form_have_no_id(key: str) -> None:
    assert key_id_of(key) is None


def test_the_secret_may_hold_underscores_and_long_ids_are_cut() -> None:
    assert key_id_of("jo_abc123_secret_with_underscores") == "abc123"
    assert key_id_of(f"jo_{'a' * 500}_secret") == "a" * MAX_KEY_ID


def test_keys_are_hashed_by_the_stores_one_hash() -> None:
    assert hash_key is hash_token
    assert hash_key("jo_a_b") == hashlib.sha256(b"jo_a_b").hexdigest()
