"""UDP probes to kubereach listeners, which always answer with their identity.

A connected UDP socket with IP_RECVERR needs no privilege and still sees ICMP:
reply datagram -> open; ECONNREFUSED (ICMP port unreachable) -> closed; ICMP
admin-prohibited -> filtered; host/net unreachable -> unreachable; silence after every
attempt -> filtered (the listener would have answered).
"""

from __future__ import annotations

import asyncio
import socket
import time

from probe.identity import MAX_IDENTITY_BYTES, parse_identity
from probe.methods.common import resolve
from probe.netutil import classify_oserror, enable_recverr, errno_name
from probe.outcome import Outcome
from probe.schema import ProbeState

PAYLOAD = b"kubereach-probe\n"


async def probe_udp(address: str, port: int, *, timeout_s: float, retries: int) -> Outcome:
    loop = asyncio.get_running_loop()
    try:
        family, sockaddr = await resolve(address, port, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        return Outcome(ProbeState.ERROR, "resolve-failed", 0, detail=str(exc))
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError as exc:  # EMFILE/ENFILE/ENOBUFS: record the errno, not a traceback
        return Outcome(ProbeState.ERROR, errno_name(exc.errno), 1, detail=str(exc))
    sock.setblocking(False)
    enable_recverr(sock)
    attempts = 0
    try:
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            state, evidence, detail = classify_oserror(exc, sock)
            return Outcome(state, evidence, 1, detail=detail)
        for attempt in range(1, retries + 2):
            attempts = attempt
            started = time.monotonic()
            try:
                await loop.sock_sendall(sock, PAYLOAD)
                data = await asyncio.wait_for(loop.sock_recv(sock, MAX_IDENTITY_BYTES), timeout_s)
            except TimeoutError:
                continue
            except OSError as exc:
                state, evidence, detail = classify_oserror(exc, sock)
                return Outcome(state, evidence, attempt, _ms(started), detail=detail)
            return Outcome(ProbeState.OPEN, "reply", attempt, _ms(started), identity=parse_identity(data))
    finally:
        sock.close()
    return Outcome(
        ProbeState.FILTERED, "timeout", attempts, detail=f"no reply to {attempts} datagram(s), {timeout_s:g}s each"
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000.0, 3)
