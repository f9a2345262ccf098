"""SCTP probes: a real connect where the kernel has SCTP, else an explicit skip."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

from probe.methods.common import resolve
from probe.netutil import classify_oserror
from probe.outcome import Outcome
from probe.schema import ProbeState

UNSUPPORTED_NOTE = (
    "SCTP is not available in this kernel (socket(IPPROTO_SCTP) failed): "
    "SCTP probes were skipped, state error with evidence sctp-unsupported"
)


def sctp_available() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
        return True
    except OSError:
        return False


async def probe_sctp(address: str, port: int, *, timeout_s: float, retries: int) -> Outcome:
    loop = asyncio.get_running_loop()
    try:
        family, sockaddr = await resolve(address, port, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return Outcome(ProbeState.ERROR, "resolve-failed", 0, detail=str(exc))
    attempts = 0
    for attempt in range(1, retries + 2):
        attempts = attempt
        try:
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        except OSError as exc:
            if exc.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT):
                return Outcome(ProbeState.ERROR, "sctp-unsupported", 0, detail=UNSUPPORTED_NOTE)
            return Outcome(ProbeState.ERROR, "sctp-socket-failed", 0, detail=str(exc))
        sock.setblocking(False)
        started = time.monotonic()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout_s)
        except TimeoutError:
            continue
        except OSError as exc:
            state, evidence, detail = classify_oserror(exc, sock)
            return Outcome(state, evidence, attempt, detail=detail)
        finally:
            sock.close()
        return Outcome(ProbeState.OPEN, "connected", attempt, round((time.monotonic() - started) * 1000, 3))
    return Outcome(ProbeState.FILTERED, "timeout", attempts)
