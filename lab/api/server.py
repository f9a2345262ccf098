"""Run the lab API on 127.0.0.1 (random port, HTTPS) over a :class:`Cluster`."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from aiohttp import web

from lab.api.app import make_app
from lab.api.cluster import Cluster

BIND_HOST = "127.0.0.1"  # never anything else: the API can start processes as any UID


@dataclass
class ApiServer:
    cluster: Cluster
    token: str
    ssl_context: ssl.SSLContext | None
    port: int = 0
    _runner: web.AppRunner | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{BIND_HOST}:{self.port}"

    async def start(self) -> str:
        app = make_app(self.cluster, self.token)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, BIND_HOST, self.port, ssl_context=self.ssl_context, backlog=512, reuse_address=True
        )
        await site.start()
        # aiohttp types its private _server as AbstractServer; it is the Server of loop.create_server
        sockets = site._server.sockets if site._server is not None else []  # type: ignore[attr-defined]
        self.port = sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        self.cluster.store.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
