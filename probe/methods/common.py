"""Address resolution shared by the methods (IP literals skip the resolver)."""

from __future__ import annotations

import asyncio
import socket


async def resolve(address: str, port: int, sock_type: int) -> tuple[int, tuple]:
    """(family, sockaddr) for ``address``; raises socket.gaierror for an unknown name."""
    for family in (socket.AF_INET, socket.AF_INET6):   # inet_pton: cheap, no resolver
        try:
            socket.inet_pton(family, address)
        except OSError:
            continue
        return family, ((address, port) if family == socket.AF_INET else (address, port, 0, 0))
    infos = await asyncio.get_running_loop().getaddrinfo(address, port, type=sock_type)
    family, _type, _proto, _canon, sockaddr = infos[0]
    return family, sockaddr
