"""A scripted Kubernetes API server on 127.0.0.1 for the sweep's tests over real HTTP.

``ScriptedApi(answer)`` serves ``answer(method, path) -> (status, body) | None`` (None: a
Namespace for a namespace GET, an empty List otherwise; a ``str`` body is sent as it is,
e.g. the newline-separated events of a watch) and records every request, both as
(method, path) in ``requests`` and with its query string in ``requests_qs``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

Answer = Callable[[str, str], "tuple[int, dict[str, Any]] | None"]


def status(code: int, reason: str, message: str) -> tuple[int, dict]:
    """A Kubernetes ``Status`` failure body, as the API server sends with an error code."""
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def _default(method: str, path: str) -> tuple[int, dict]:
    parts = path.strip("/").split("/")
    if method == "GET" and len(parts) == 4 and parts[2] == "namespaces":
        return 200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": parts[3]}}
    return 200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []}


class ScriptedApi:
    """The server runs on its own event loop thread until :meth:`stop`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str]] = []
        self.requests_qs: list[tuple[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        async def handler(request):
            self.requests.append((request.method, request.path))
            self.requests_qs.append((request.method, request.path_qs))
            got = self.answer(request.method, request.path) or _default(request.method, request.path)
            if isinstance(got[1], str):
                return web.Response(text=got[1], status=got[0], content_type="application/json")
            return web.json_response(got[1], status=got[0])

        async def start():
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handler)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(
            target=lambda: (self.loop.run_until_complete(start()), self.loop.run_forever()), daemon=True
        )
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
