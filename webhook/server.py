"""The webhook's HTTPS edge: aiohttp routes around the decisions of ``admission``.

``POST /mutate`` and ``POST /validate`` take an AdmissionReview v1 and answer one;
``GET /healthz`` answers ``ok`` (liveness and readiness). TLS only: the API server will
not call a webhook over plain HTTP; a rotated certificate on disk is picked up
without a restart. Each decision is logged on stderr, one line, so an operator can
see why a pod was denied or what was injected.

The event loop only moves bytes: a request body is refused before it is read when
its declared length is over :data:`MAX_BODY_BYTES` (aiohttp's ``client_max_size``
stops one without a length at the same size), bodies held at once are bounded by
:data:`MAX_BODIES_BYTES`, and decoding and deciding happen in the worker processes of
:mod:`webhook.pool`, each with a time and memory budget. So ``/healthz`` and the
other reviews are answered while one request is expensive, and every request gets an
answer within the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from orchestrator.errors import UsageError
from webhook.admission import Settings
from webhook.pool import DecisionPool, PoolOptions

log = logging.getLogger("kubereach.webhook")

# The largest AdmissionReview the API server sends: it refuses requests over 3 MiB, and
# on UPDATE a review carries the object twice (object and oldObject), plus the envelope.
MAX_BODY_BYTES = 7 << 20
# Bodies held in memory at once, waiting for or being handed to a worker: a burst of
# the largest reviews waits for room (within its budget) instead of growing the heap.
MAX_BODIES_BYTES = 32 << 20
POOL_KEY = web.AppKey("pool", DecisionPool)


class _ByteBudget:
    """At most ``limit`` bytes held at once; waiters are served in order."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, n: int, timeout: float) -> AsyncIterator[None]:
        n = min(n, self.limit)
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.used + n <= self.limit), timeout)
            self.used += n
        try:
            yield
        finally:
            async with self._changed:
                self.used -= n
                self._changed.notify_all()


def make_app(settings: Settings, options: PoolOptions | None = None) -> web.Application:
    """The aiohttp application; its decision pool starts with the app and stops with it."""
    options = options or PoolOptions()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    budget = _ByteBudget(MAX_BODIES_BYTES)

    async def pool_context(app: web.Application) -> AsyncIterator[None]:
        pool = DecisionPool(settings, options)
        await pool.start()
        app[POOL_KEY] = pool
        yield
        await pool.close()

    app.cleanup_ctx.append(pool_context)

    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    def handler(mode: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            arrived = time.monotonic()
            length = request.content_length
            if length is not None and length > MAX_BODY_BYTES:
                return _error(413, f"request body of {length:,} bytes is over the limit of {MAX_BODY_BYTES:,}")
            try:
                async with budget.hold(length if length is not None else MAX_BODY_BYTES, options.budget_s):
                    try:
                        body = await request.read()
                    except web.HTTPRequestEntityTooLarge:
                        return _error(413, f"request body is over the limit of {MAX_BODY_BYTES:,} bytes")
                    if not body:
                        return _error(400, "request body is empty (expected an AdmissionReview)")
                    outcome = await request.app[POOL_KEY].decide(mode, body, arrived=arrived)
            except TimeoutError:
                return _error(
                    503, f"kubereach webhook: overloaded, no room for the request within {options.budget_s:g}s"
                )
            (log.warning if outcome.failed or outcome.status != 200 else log.info)("%s", outcome.log)
            return web.Response(body=outcome.body, status=outcome.status, content_type="application/json")

        return handle

    app.router.add_get("/healthz", healthz)
    app.router.add_post("/mutate", handler("mutate"))
    app.router.add_post("/validate", handler("validate"))
    return app


def _error(status: int, message: str) -> web.Response:
    log.warning("%s: %s", status, message)
    return web.json_response({"error": message}, status=status)


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
    options: PoolOptions | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT); announce the bound address."""
    ctx = ssl_context(cert_file, key_file)
    # shutdown_timeout: in-flight reviews get 5 s to finish on SIGTERM (the API server's
    # own timeoutSeconds is 5 in the shipped configurations).
    runner = web.AppRunner(make_app(settings, options), access_log=None, shutdown_timeout=5)
    try:
        await runner.setup()
    except RuntimeError as exc:  # a decision worker could not start
        await runner.cleanup()
        raise UsageError(f"cannot start the webhook: {exc}") from exc
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
