"""The one thing a benchmark task does: tell the harness when it ran.

Kept free of heavy imports because every worker process imports it. Each task
sends one UDP datagram `"<seq> <unix time>"` to the harness on 127.0.0.1; UDP
keeps the cost inside the task tiny and identical for every system, and
works from processes, threads and coroutines alike.
"""

from __future__ import annotations

import os
import socket
import time

ENV_ADDR = "BENCH_PROBE_ADDR"

_sock: socket.socket | None = None
_addr: tuple[str, int] | None = None


def _target() -> tuple[socket.socket, tuple[str, int]] | None:
    global _sock, _addr
    if _addr is None:
        raw = os.environ.get(ENV_ADDR)
        if not raw:
            return None
        host, port = raw.rsplit(":", 1)
        # The socket first: a thread (Celery's threads pool) that sees _addr set must
        # also see _sock set. Two threads racing here each make a socket: harmless.
        _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _addr = (host, int(port))
    assert _sock is not None
    return _sock, _addr


def report(seq: int) -> None:
    """Record that job `seq` is executing now (called from the no-op task)."""
    target = _target()
    if target is not None:
        sock, addr = target
        sock.sendto(f"{seq} {time.time()!r}".encode(), addr)
