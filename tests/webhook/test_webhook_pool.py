"""The webhook keeps answering: decisions in bounded workers, a time and memory budget, bodies refused early.

The pool is driven directly (``DecisionPool``, the code ``webhook serve`` runs) where a
budget has to be tiny to be crossed on any machine, and through a real
``kubereach webhook serve`` process over HTTPS for what a client sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from test_webhook_findings import big_pod, big_rules
from webhook_helpers import client_context, make_pod, make_review, post, serve_webhook

from webhook.admission import Settings
from webhook.pool import DecisionPool, PoolOptions
from webhook.server import MAX_BODY_BYTES


def run(coro):
    return asyncio.run(coro)


def body_of(pod) -> bytes:
    return json.dumps(make_review(pod)).encode()


def answer_of(outcome) -> dict:
    assert outcome.status == 200, outcome.body
    return json.loads(outcome.body)["response"]


def test_a_decision_over_the_time_budget_is_denied_and_its_worker_replaced():
    async def go():
        pool = DecisionPool(Settings(), PoolOptions(workers=1, large_workers=1, budget_s=0.005))
        await pool.start()
        try:
            slow = await pool.decide("mutate", body_of(big_pod(big_rules(4000))))
            pool.options = PoolOptions(workers=1, large_workers=1, budget_s=30)  # for the next ones only
            after = [await pool.decide("mutate", body_of(make_pod())) for _ in range(3)]
            large_after = await pool.decide("mutate", body_of(big_pod(big_rules(4000))))
            return slow, after, large_after, pool.replaced
        finally:
            await pool.close()

    slow, after, large_after, replaced = run(go())
    assert slow.failed
    if slow.status == 200:  # the worker had reported the uid: a proper AdmissionReview denial
        resp = answer_of(slow)
        assert resp["allowed"] is False and resp["status"]["code"] == 503
        assert "kubereach webhook: the decision took longer than 0.005s" in resp["status"]["message"]
    else:  # still decoding when time ran out: HTTP 503 with the reason (failurePolicy decides)
        assert slow.status == 503 and b"0.005s" in slow.body
    assert all(answer_of(o)["allowed"] for o in after)
    assert answer_of(large_after)["allowed"]
    assert replaced == 1


def test_a_decision_over_the_memory_budget_is_refused_and_its_worker_replaced():
    # a review with a million strings: about 60 MB once decoded, over a 64 MiB address space
    pod = make_pod()
    pod["spec"]["containers"][0]["args"] = [f"x{i}" for i in range(1_000_000)]

    async def go():
        pool = DecisionPool(Settings(), PoolOptions(workers=1, large_workers=1, budget_s=60, memory_bytes=64 << 20))
        await pool.start()
        try:
            outcome = await pool.decide("mutate", body_of(pod))
            after = await pool.decide("mutate", body_of(make_pod()))
            return outcome, after, pool.replaced
        finally:
            await pool.close()

    outcome, after, replaced = run(go())
    assert outcome.failed and b"needed more than the 64 MiB a decision may use" in outcome.body
    assert answer_of(after)["allowed"] is True
    assert replaced == 1


def test_a_worker_that_died_while_idle_is_replaced_before_it_is_used():
    async def go():
        pool = DecisionPool(Settings(), PoolOptions(workers=1, large_workers=1))
        await pool.start()
        try:
            (worker,) = list(pool._lanes["small"].workers)
            worker.kill()
            await worker.wait()
            outcome = await pool.decide("mutate", body_of(make_pod()))
            return outcome, pool.replaced
        finally:
            await pool.close()

    outcome, replaced = run(go())
    assert answer_of(outcome)["allowed"] is True and replaced == 1


def test_large_bodies_never_delay_small_reviews_or_healthz(cert_dir):
    """Ten reviews of 250 KiB each queue on the large-body worker; meanwhile /healthz and
    ordinary reviews are answered at once by the others."""
    big = body_of(big_pod(big_rules(4000)))
    small = body_of(make_pod())
    assert len(big) > 200_000 and len(small) < 10_000

    async def go(port: int):
        ctx = client_context(cert_dir)
        url = f"https://127.0.0.1:{port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=64)) as s:

            async def timed(method: str, path: str, data: bytes | None = None) -> tuple[float, int]:
                t0 = time.monotonic()
                async with s.request(method, url + path, data=data) as r:
                    await r.read()
                    return time.monotonic() - t0, r.status

            heavy = [asyncio.ensure_future(timed("POST", "/mutate", big)) for _ in range(10)]
            await asyncio.sleep(0.05)
            light = []
            while not all(h.done() for h in heavy):
                light.append(await timed("GET", "/healthz"))
                light.append(await timed("POST", "/mutate", small))
            return [await h for h in heavy], light

    with serve_webhook(cert_dir, "--budget", "20") as (_, port):
        heavy, light = asyncio.run(go(port))
    assert all(status == 200 for _, status in heavy + light)
    assert len(light) >= 4
    # generous (a busy 2-core machine): what matters is that they do not wait for the heavy ones
    assert max(t for t, _ in light) < 1.0, sorted(t for t, _ in light)[-5:]
    assert max(t for t, _ in heavy) > max(t for t, _ in light)


def test_a_body_over_the_limit_is_refused_before_it_is_read(cert_dir):
    with serve_webhook(cert_dir) as (_, port):
        ctx = client_context(cert_dir)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(
                b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
            )  # and no body at all: the answer must not wait for it
            reply = tls.recv(65536).decode(errors="replace")
        assert reply.startswith("HTTP/1.1 413"), reply[:200]
        assert "over the limit of 7,340,032" in reply
        # a chunked body (no length announced) is cut off at the same size
        status, body = post(port, "/mutate", iter([b"x" * (1 << 20)] * 8), ctx)  # type: ignore[arg-type]
        assert status == 413, body[:200]


def test_sigterm_stops_the_server_and_its_workers(cert_dir):
    with serve_webhook(cert_dir, "--workers", "3") as (proc, port):
        assert post(port, "/mutate", body_of(make_pod()), client_context(cert_dir))[0] == 200
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert len(children) == 4  # three small-review workers and one large-review worker
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
