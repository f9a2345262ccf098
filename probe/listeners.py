"""Identity listeners, as a library: serve already-bound sockets on the running loop.

The lab creates each pod's sockets inside that pod's network namespace from one
process and serves hundreds of them on one event loop, so a listener here is only an
asyncio server or datagram endpoint around the caller's socket: no thread, no process,
a few kilobytes each. ``kubereach-probe serve`` uses the same code.

TCP: every accepted connection gets the identity line, then the connection is closed.
UDP: every datagram is answered with the identity datagram.
Standard library only (the HTTP variant lives in :mod:`probe.serve`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from typing import Any

from probe.identity import encode_identity, identity_line

__all__ = ["identity_line", "serve_socket", "ListenerHandle"]

# One agent may open thousands of connections to one listener at once (many targets on
# one address). A short accept queue drops the excess SYNs and those probes time out:
# a false "filtered". The kernel clamps this to net.core.somaxconn (4096 by default).
LISTEN_BACKLOG = 65535


class _TcpIdentity(asyncio.Protocol):
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self._payload)  # type: ignore[attr-defined]
        transport.close()  # flushes the line, then FIN

    def data_received(self, data: bytes) -> None:
        pass


class _UdpIdentity(asyncio.DatagramProtocol):
    def __init__(self, payload: bytes) -> None:
        self._payload = payload
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(self._payload, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an earlier reply must not stop the listener


class ListenerHandle:
    """A running listener; ``close()`` stops it, ``await wait_closed()`` waits for that."""

    def __init__(
        self,
        sock_type: int,
        identity: Mapping[str, Any],
        *,
        server: asyncio.base_events.Server | None = None,
        transport: asyncio.DatagramTransport | None = None,
    ) -> None:
        self.sock_type = sock_type
        self.identity = dict(identity)
        self._server = server
        self._transport = transport
        self._closed = asyncio.get_running_loop().create_future()

    @property
    def protocol(self) -> str:
        return "TCP" if self.sock_type == socket.SOCK_STREAM else "UDP"

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._transport is not None:
            self._transport.close()
        if not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        await self._closed
        if self._server is not None:
            await self._server.wait_closed()
        if self._transport is not None:
            await asyncio.sleep(0)  # let the transport's close callback run


async def serve_socket(sock: socket.socket, identity: Mapping[str, Any]) -> ListenerHandle:
    """Serve ``identity`` on a TCP listening socket or a bound UDP socket.

    The caller created and bound the socket (for TCP it may also have called listen();
    if not, it is done here). The socket is owned by the handle from now on.
    """
    loop = asyncio.get_running_loop()
    payload = encode_identity(identity)
    sock.setblocking(False)
    if sock.type == socket.SOCK_STREAM:
        # (asyncio's server calls listen() again with its backlog, 100 by default)
        server = await loop.create_server(lambda: _TcpIdentity(payload), sock=sock, backlog=LISTEN_BACKLOG)
        return ListenerHandle(socket.SOCK_STREAM, identity, server=server)
    if sock.type == socket.SOCK_DGRAM:
        transport, _proto = await loop.create_datagram_endpoint(lambda: _UdpIdentity(payload), sock=sock)
        return ListenerHandle(socket.SOCK_DGRAM, identity, transport=transport)
    raise ValueError(f"serve_socket: unsupported socket type {sock.type!r} (TCP or UDP only)")
