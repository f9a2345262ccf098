"""The burst of issue 10: 200 concurrent reviews, 20 of them hostile, every benign one answered within 1 s.

A real ``kubereach webhook serve`` (its shipped defaults: 2 + 1 workers, 2 s budget)
over HTTPS on kept-alive connections, as the API server calls it. The hostile reviews
are the issue's findings, each genuinely expensive for the old code (which decoded the
rules with plain PyYAML and then walked them): the 440-byte alias bomb (16-23 s and
about 1 GiB each), a 1 MiB annotation (2-3 s of a blocked server each), and an
annotation listing a million ports. The one timing the issue asks for is asserted
(1 s per benign review, on this shared 2-core machine); everything else is about
answers, not speed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import aiohttp
import pytest
import yaml
from webhook_helpers import client_context, make_pod, make_review, patched, serve_webhook

pytestmark = pytest.mark.slow

ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
    + "rules: *i\n"
)
ONE_MIB = "rules: [" + "{from: sidecar, to: app, action: deny}, " * 26_500 + "]\n"
MILLION_PORTS = "rules: [{from: sidecar, to: app, action: deny, ports: [" + "8080, " * 1_000_000 + "]}]\n"
BENIGN_LIMIT_S = 1.0


def hostile_reviews() -> list[bytes]:
    out = []
    for text, n in ((ALIAS_BOMB, 10), (ONE_MIB, 5), (MILLION_PORTS, 5)):
        for _ in range(n):
            out.append(json.dumps(make_review(make_pod(rules=text))).encode())
    return out


def benign_reviews() -> list[tuple[str, bytes, bool]]:
    """(path, body, expected allowed): annotated pods to mutate, plain pods, mutated pods to validate."""
    out: list[tuple[str, bytes, bool]] = []
    mutated = patched(make_pod(), json.loads(_review_answer(make_pod())))
    for i in range(180):
        kind = i % 3
        if kind == 0:
            out.append(("/mutate", json.dumps(make_review(make_pod(name=f"web-{i}"))).encode(), True))
        elif kind == 1:
            out.append(("/mutate", json.dumps(make_review(make_pod(rules=None, name=f"plain-{i}"))).encode(), True))
        else:
            out.append(("/validate", json.dumps(make_review(mutated)).encode(), True))
    return out


def _review_answer(pod: dict) -> str:
    from webhook.admission import Mode, Settings, review

    return json.dumps(review(make_review(pod), Mode.MUTATE, Settings()))


def test_the_hostile_reviews_are_genuinely_expensive_for_the_old_decoding():
    """The old webhook decoded with plain PyYAML and then walked the result (json.dumps):
    the alias bomb alone does not finish within 5 s of CPU and 1 GiB."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "safeyaml"))
    from sandbox import Exploded, Sandbox

    box = Sandbox(cpu_s=5, memory_bytes=1 << 30, wall_s=60)
    try:
        with pytest.raises(Exploded):
            box.call("fuzz_targets:old_webhook_decoding", ALIAS_BOMB)
    finally:
        box.close()
    assert yaml.safe_load(ONE_MIB)["rules"][0] == {"from": "sidecar", "to": "app", "action": "deny"}


def test_200_concurrent_reviews_with_20_hostile_every_benign_one_within_a_second(cert_dir):
    hostile, benign = hostile_reviews(), benign_reviews()
    assert len(hostile) == 20 and len(benign) == 180 and len(ALIAS_BOMB) < 500 and len(ONE_MIB) > 1 << 20

    async def burst(port: int):
        url = f"https://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(ssl=client_context(cert_dir), limit=200, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:

            async def healthz() -> None:
                async with s.get(url + "/healthz") as r:
                    assert r.status == 200
                    await r.read()

            await asyncio.gather(*(healthz() for _ in range(200)))  # 200 kept-alive connections, as the API server's

            async def send(path: str, body: bytes) -> tuple[float, int, dict]:
                t0 = time.monotonic()
                async with s.post(url + path, data=body, headers={"Content-Type": "application/json"}) as r:
                    text = await r.read()
                    return time.monotonic() - t0, r.status, json.loads(text)

            jobs = [("hostile", "/mutate", b, False) for b in hostile] + [("benign", *b) for b in benign]
            random.Random(7).shuffle(jobs)
            results = await asyncio.gather(*(send(path, body) for _, path, body, _ in jobs))
            return list(zip(jobs, results, strict=True))

    with serve_webhook(cert_dir) as (proc, port):
        outcome = asyncio.run(burst(port))
        assert proc.poll() is None  # the server survived

    slow = []
    for (what, _path, _body, allowed), (elapsed, status, answer) in outcome:
        assert status == 200, (what, answer)
        resp = answer["response"]
        assert resp["allowed"] is allowed, (what, resp.get("status"))
        if what == "hostile":
            message = resp["status"]["message"]
            # the alias bombs by safeyaml; the large ones already by the API server's 256 KiB on annotations
            assert ("invalid YAML" in message or "262144 bytes in total" in message) and len(message) < 1000
        elif elapsed > BENIGN_LIMIT_S:
            slow.append(round(elapsed, 3))
    latencies = sorted(e for (what, *_), (e, *_) in outcome if what == "benign")
    assert not slow, f"{len(slow)} benign reviews over {BENIGN_LIMIT_S}s: {slow[:10]}; p50 {latencies[90]:.3f}s"
