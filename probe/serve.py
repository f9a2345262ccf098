"""``kubereach-probe serve``: identity listeners on TCP/UDP ports, optionally HTTP.

Binds dual-stack (``::`` with IPV6_V6ONLY off) where the kernel has IPv6, else
``0.0.0.0``; answers until SIGTERM or SIGINT, then closes every socket and exits 0.
aiohttp is imported only when ``--http`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from probe.identity import identity_from_env
from probe.listeners import LISTEN_BACKLOG, ListenerHandle, serve_socket

if TYPE_CHECKING:  # imported at run time only with --http
    from aiohttp import web


def bind_socket(port: int, sock_type: int, host: str | None = None) -> socket.socket:
    """A bound (not yet listening) socket, dual-stack when possible."""
    if host is None:
        try:
            sock = socket.socket(socket.AF_INET6, sock_type)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            host = "::"
        except OSError:
            sock = socket.socket(socket.AF_INET, sock_type)
            host = "0.0.0.0"
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, sock_type)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    tcp_ports: Sequence[int],
    udp_ports: Sequence[int],
    http_ports: Sequence[int],
    *,
    host: str | None = None,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    handles: list[ListenerHandle] = []
    runners = []
    try:
        for port in tcp_ports:
            handles.append(
                await serve_socket(bind_socket(port, socket.SOCK_STREAM, host), identity_from_env(port, "TCP"))
            )
        for port in udp_ports:
            handles.append(
                await serve_socket(bind_socket(port, socket.SOCK_DGRAM, host), identity_from_env(port, "UDP"))
            )
        for port in http_ports:
            runners.append(await _start_http(port, host))
        what = [f"{p}/TCP" for p in tcp_ports] + [f"{p}/UDP" for p in udp_ports] + [f"{p}/HTTP" for p in http_ports]
        print(f"kubereach-probe serve: listening on {', '.join(what) or 'nothing'}", file=sys.stderr, flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        for handle in handles:
            handle.close()
        for handle in handles:
            await handle.wait_closed()
        for runner in runners:
            await runner.cleanup()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
    print("kubereach-probe serve: stopped", file=sys.stderr, flush=True)
    return 0


async def _start_http(port: int, host: str | None) -> web.AppRunner:
    from aiohttp import web

    identity = identity_from_env(port, "TCP")

    async def index(_request: web.Request) -> web.Response:
        return web.json_response(identity)

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, bind_socket(port, socket.SOCK_STREAM, host), backlog=LISTEN_BACKLOG)
    await site.start()
    return runner
