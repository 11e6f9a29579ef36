"""A 10 MiB body is refused with 413 without the server buffering it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import running_server

pytestmark = pytest.mark.slow

TEN_MIB = 10 * 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def server_pid(port: int) -> int:
    """The process listening on ``port`` (found through /proc/net/tcp and fd links)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":
            inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = fd.readlink().as_posix()
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    raise RuntimeError(f"nobody listens on {port}")


def send_raw(port: int, head: bytes, chunks: Iterator[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: exactly what we want
        return sock.recv(65536)


def test_ten_mib_bodies_get_413_and_memory_stays_flat(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'b.db'}") as url:
        port = int(url.rsplit(":", 1)[1])
        pid = server_pid(port)
        before = rss_kib(pid)
        block = b"x" * 65536
        for _ in range(3):
            declared = send_raw(
                port,
                b"POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {TEN_MIB}\r\n\r\n".encode(),
                iter([block] * (TEN_MIB // len(block))),
            )
            assert b" 413 " in declared.split(b"\r\n", 1)[0]
            chunked = send_raw(
                port,
                b"POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n",
                iter([b"10000\r\n" + block + b"\r\n"] * (TEN_MIB // len(block)) + [b"0\r\n\r\n"]),
            )
            assert b" 413 " in chunked.split(b"\r\n", 1)[0]
            assert b"payload_too_large" in chunked
        after = rss_kib(pid)
        # Buffering even one body would add 10 MiB; allow a little allocator noise.
        assert after - before < 4 * 1024, (before, after)
