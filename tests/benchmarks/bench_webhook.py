"""How much the intra-pod webhook adds to a pod creation.

Two figures, each with a baseline measured in the same run:
1. the pure decision (YAML rules -> plan -> JSONPatch -> AdmissionReview), against
   just decoding and encoding the same AdmissionReview as JSON (what any webhook pays);
2. an HTTPS ``POST /mutate`` round trip on a kept-alive connection, against
   ``GET /healthz`` on the same connection (TLS and HTTP cost without the decision).

Run: ``.venv/bin/python tests/benchmarks/bench_webhook.py`` (about two seconds).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "webhook"))

from webhook_helpers import make_pod, make_review

from webhook.admission import Mode, Settings, review
from webhook.certs import generate, write_bundle
from webhook.server import make_app

N_PURE = 2000
N_HTTP = 300


def per_call_us(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def bench_pure() -> tuple[float, float]:
    body = json.dumps(make_review(make_pod()))
    settings = Settings()
    baseline = per_call_us(lambda: json.dumps(json.loads(body)), N_PURE)
    decision = per_call_us(lambda: json.dumps(review(json.loads(body), Mode.MUTATE, settings)), N_PURE)
    return baseline, decision


async def bench_http() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_bundle(generate("wh", "bench", ips=["127.0.0.1"]), tmp)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(paths["tls.crt"], paths["tls.key"])
        client_ctx = ssl.create_default_context(cafile=str(paths["ca.crt"]))
        runner = web.AppRunner(make_app(Settings()), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
        await site.start()
        port = runner.addresses[0][1]
        body = make_review(make_pod())
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:

                async def health():
                    async with s.get(f"https://127.0.0.1:{port}/healthz", ssl=client_ctx) as r:
                        await r.read()

                async def mutate():
                    async with s.post(f"https://127.0.0.1:{port}/mutate", json=body, ssl=client_ctx) as r:
                        assert (await r.json())["response"]["allowed"]

                async def timed(fn) -> float:
                    await fn()  # warm the connection
                    t0 = time.perf_counter()
                    for _ in range(N_HTTP):
                        await fn()
                    return (time.perf_counter() - t0) / N_HTTP * 1e3

                return await timed(health), await timed(mutate)
        finally:
            await runner.cleanup()


def main() -> None:
    base, pure = bench_pure()
    print(f"pure decision:  {pure:8.1f} us/review   (JSON decode+encode only: {base:.1f} us; ratio {pure / base:.1f}x)")
    health, mutate = asyncio.run(bench_http())
    print(
        f"HTTPS /mutate:  {mutate:8.3f} ms/request (/healthz same connection: {health:.3f} ms; "
        f"ratio {mutate / health:.2f}x)"
    )


if __name__ == "__main__":
    main()
