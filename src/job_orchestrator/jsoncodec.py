"""JSON encoding shared by the API and the store: orjson, lossless for any integer.

orjson refuses integers beyond 64 bits when encoding and turns them into floats when decoding;
a job payload carrying a 30-digit id must come back exactly as it went in, so those rare
documents take the standard library's path.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_INTEGER = re.compile(rb"\d{19}")


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits; NaN or infinity are refused like orjson would not.
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def loads(raw: str | bytes) -> Any:
    data = raw.encode() if isinstance(raw, str) else raw
    if _LONG_INTEGER.search(data):
        return json.loads(data)
    return orjson.loads(data)


def canonical(value: Any) -> bytes:
    """Sorted keys, for fingerprints: equal documents give equal bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
        ).encode()
