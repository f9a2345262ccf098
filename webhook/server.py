"""The webhook's HTTPS edge: aiohttp routes around the pure decisions of ``admission``.

``POST /mutate`` and ``POST /validate`` take an AdmissionReview v1 and answer one;
``GET /healthz`` answers ``ok`` (liveness and readiness: the server has no
dependency that could make it unready once it listens). TLS only: the API server will
not call a webhook over plain HTTP; a rotated certificate on disk is picked up
without a restart. Each decision is logged on stderr, one line, so
an operator can see why a pod was denied or what was injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from orchestrator.errors import UsageError
from webhook.admission import BadReview, Mode, Settings, review

log = logging.getLogger("kubereach.webhook")

# The API server caps an admission request at about 3 MiB of object; leave headroom.
MAX_BODY_BYTES = 8 * 1024 * 1024


def make_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    def handler(mode: Mode) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json(loads=json.loads)
            except (ValueError, UnicodeDecodeError):
                return _bad_request("request body is not JSON")
            try:
                answer = review(body, mode, settings)
            except BadReview as exc:
                return _bad_request(str(exc))
            _log_decision(mode, body, answer)
            return web.json_response(answer)

        return handle

    app.router.add_get("/healthz", healthz)
    app.router.add_post("/mutate", handler(Mode.MUTATE))
    app.router.add_post("/validate", handler(Mode.VALIDATE))
    return app


def _bad_request(message: str) -> web.Response:
    log.warning("bad request: %s", message)
    return web.json_response({"error": message}, status=400)


def _log_decision(mode: Mode, body: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
    req = body.get("request") or {}
    resp = answer["response"]
    meta = (req.get("object") or {}).get("metadata") or {}
    name = meta.get("name") or meta.get("generateName") or "?"
    what = "allowed" if resp["allowed"] else "denied"
    if resp.get("patch"):
        what += " with patch"
    detail = (resp.get("status") or {}).get("message", "").replace("\n", " ")
    log.info(
        "%s %s %s/%s uid=%s: %s%s",
        mode,
        req.get("operation"),
        req.get("namespace"),
        name,
        req.get("uid"),
        what,
        f": {detail}" if detail else "",
    )


def ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot load the serving certificate {cert_file} / key {key_file}: {getattr(exc, 'strerror', None) or exc}"
        ) from exc
    return ctx


# How often the certificate files are checked for a rotation (a Secret update reaches a
# mounted volume within about a minute; checking more often costs two stat() calls).
RELOAD_INTERVAL_S = 30.0


async def reload_on_change(
    ctx: ssl.SSLContext, cert_file: str, key_file: str, *, interval: float = RELOAD_INTERVAL_S
) -> None:
    """Load a rotated certificate into the live context: new handshakes use it, no restart.

    A half-written pair (the key does not match the certificate yet) is skipped and
    retried on the next tick; the old certificate keeps serving meanwhile.
    """

    def stamp() -> tuple[float, float] | None:
        try:
            return (os.stat(cert_file).st_mtime, os.stat(key_file).st_mtime)
        except OSError:
            return None

    last = stamp()
    while True:
        await asyncio.sleep(interval)
        now = stamp()
        if now is None or now == last:
            continue
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            log.warning("certificate changed but could not be loaded yet: %s", exc)
            continue
        last = now
        log.info("reloaded the serving certificate from %s", cert_file)


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    cert_file: str,
    key_file: str,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[str, int], None] | None = None,
    reload_interval: float = RELOAD_INTERVAL_S,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT); announce the bound address."""
    ctx = ssl_context(cert_file, key_file)
    # shutdown_timeout: in-flight reviews get 5 s to finish on SIGTERM (the API server's
    # own timeoutSeconds is 5 in the shipped configurations).
    runner = web.AppRunner(make_app(settings), access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    bound = runner.addresses[0] if runner.addresses else (host, port)
    if on_listening:
        on_listening(str(bound[0]), int(bound[1]))
    reloader = asyncio.create_task(reload_on_change(ctx, cert_file, key_file, interval=reload_interval))
    try:
        await stop.wait()
    finally:
        reloader.cancel()
        await runner.cleanup()
