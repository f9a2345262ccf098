"""TCP connect probes: no privilege, asyncio sockets, ICMP detail via IP_RECVERR.

connected -> open (and the listener's identity line if one arrives within a short
grace period); ECONNREFUSED -> closed; silence after every attempt -> filtered;
EHOSTUNREACH/ENETUNREACH -> unreachable, unless the queued ICMP says admin-prohibited
(3/9, 3/10, 3/13), which is filtered; EPERM/EACCES (a local DROP or prohibit route)
-> filtered; anything else -> error with the errno name.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from typing import Any

from probe.identity import MAX_IDENTITY_BYTES, parse_identity
from probe.methods.common import resolve
from probe.netutil import classify_oserror, enable_recverr, errno_name
from probe.outcome import Outcome
from probe.schema import ProbeState

# The kubereach listener writes its identity right after accept; 200 ms is many RTTs
# inside a cluster, yet short enough that other servers (which stay silent) cost little.
IDENTITY_GRACE_S = 0.2


async def probe_connect(
    address: str, port: int, *, timeout_s: float, retries: int, read_identity: bool = True
) -> Outcome:
    loop = asyncio.get_running_loop()
    try:
        family, sockaddr = await resolve(address, port, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return Outcome(ProbeState.ERROR, "resolve-failed", 0, detail=str(exc))
    attempts = 0
    for attempt in range(1, retries + 2):
        attempts = attempt
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # EMFILE/ENFILE/ENOBUFS: record the errno, not a traceback
            return Outcome(ProbeState.ERROR, errno_name(exc.errno), attempt, detail=str(exc))
        sock.setblocking(False)
        enable_recverr(sock)
        started = time.monotonic()
        try:
            err = await _connect(loop, sock, sockaddr, timeout_s)
            if err is None:
                continue  # silence: try again
            if err:
                state, evidence, detail = classify_oserror(OSError(err, os.strerror(err)), sock)
                return Outcome(state, evidence, attempt, _ms(started), detail=detail)
            latency = _ms(started)
            identity = None
            if read_identity:
                identity = await _read_identity(loop, sock, min(IDENTITY_GRACE_S, timeout_s))
            return Outcome(ProbeState.OPEN, "connected", attempt, latency, identity=identity)
        finally:
            sock.close()
    return Outcome(
        ProbeState.FILTERED, "timeout", attempts, detail=f"no answer to {attempts} attempt(s) of {timeout_s:g}s"
    )


async def _connect(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, sockaddr: tuple[Any, ...], timeout_s: float
) -> int | None:
    """0 when connected, the errno when refused/unreachable, None on timeout.

    Hand-rolled instead of ``wait_for(loop.sock_connect())``: that costs two tasks and
    a handful of callbacks per attempt, which is most of the agent's CPU time when it
    runs thousands of probes (tests/benchmarks/bench_probe.py).
    """
    err = sock.connect_ex(sockaddr)
    if err not in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
        return err
    fut: asyncio.Future[int | None] = loop.create_future()
    fd = sock.fileno()

    def writable() -> None:
        if not fut.done():
            fut.set_result(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))

    def expired() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_writer(fd, writable)
    timer = loop.call_later(timeout_s, expired)
    try:
        return await fut
    finally:
        timer.cancel()
        loop.remove_writer(fd)


async def _read_identity(loop: asyncio.AbstractEventLoop, sock: socket.socket, grace_s: float) -> dict[str, Any] | None:
    buf = b""
    deadline = loop.time() + grace_s
    while b"\n" not in buf and len(buf) < MAX_IDENTITY_BYTES:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, MAX_IDENTITY_BYTES), remaining)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        buf += chunk
    return parse_identity(buf)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 3)
