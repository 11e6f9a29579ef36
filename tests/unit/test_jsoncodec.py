from __future__ import annotations

from job_orchestrator import jsoncodec


def test_big_integers_round_trip_exactly() -> None:
    document = {"id": 13106076436621876957875798016, "small": 1, "f": 1.5, "s": "a\x00b"}
    assert jsoncodec.loads(jsoncodec.dumps(document)) == document


def test_canonical_sorts_keys_on_both_paths() -> None:
    assert jsoncodec.canonical({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    assert (
        jsoncodec.canonical({"b": 10**30, "a": 2}) == b'{"a":2,"b":1000000000000000000000000000000}'
    )


def test_nan_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        jsoncodec.dumps({"x": float("nan"), "big": 10**30})
