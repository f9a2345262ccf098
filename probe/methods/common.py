"""Address resolution shared by the methods (IP literals skip the resolver).

Names are resolved in daemon threads, not in asyncio's default executor: a resolver
stuck on an unreachable DNS server (5 s per try, per search domain) would otherwise
hold ``asyncio.run`` (which joins the executor's threads) and the process exit far past
the batch's hard deadline, and the result document with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Sequence
from typing import Any

# one socket.getaddrinfo entry: (family, type, proto, canonname, sockaddr)
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


async def resolve(address: str, port: int, sock_type: int) -> tuple[int, tuple[Any, ...]]:
    """(family, sockaddr) for ``address``; raises socket.gaierror for an unknown name."""
    for family in (socket.AF_INET, socket.AF_INET6):  # inet_pton: cheap, no resolver
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return family, ((address, port) if family == socket.AF_INET else (address, port, 0, 0))
    infos = await getaddrinfo(address, port, type=sock_type)
    family, _type, _proto, _canon, sockaddr = infos[0]
    return family, sockaddr


async def getaddrinfo(host: str, port: int | None, *, family: int = 0, type: int = 0) -> Sequence[AddrInfo]:
    """``socket.getaddrinfo`` in a daemon thread that nothing waits for once we give up."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Sequence[AddrInfo]] = loop.create_future()

    def deliver(result: Sequence[AddrInfo] | Exception) -> None:
        if fut.done():
            return
        if isinstance(result, Exception):
            fut.set_exception(result)
        else:
            fut.set_result(result)

    def work() -> None:
        result: Sequence[AddrInfo] | Exception
        try:
            result = socket.getaddrinfo(host, port, family, type)
        except Exception as exc:  # gaierror, UnicodeError: re-raised in the probe
            result = exc
        # a closed loop means the batch is over and nobody wants the answer
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, result)

    threading.Thread(target=work, name="kubereach-resolve", daemon=True).start()
    return await fut
