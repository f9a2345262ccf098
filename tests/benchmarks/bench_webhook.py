"""How much the intra-pod webhook adds to a pod creation, and how it holds up under hostile reviews.

Figures, each next to a baseline measured in the same run:
1. the pure decision (YAML rules -> plan -> JSONPatch -> AdmissionReview), against
   just decoding and encoding the same AdmissionReview as JSON (what any webhook pays);
2. an HTTPS ``POST /mutate`` round trip on a kept-alive connection through the real
   server (decided in a worker process), against ``GET /healthz`` on the same connection;
3. a burst of 180 benign reviews (p50/p99 latency, wall time) alone, then the same
   burst with 20 hostile reviews in flight (the issue's alias bomb, a 1 MiB annotation,
   a million-port list), each against a fresh ``kubereach webhook serve`` process;
   with the peak RSS (VmHWM) of the server process and of its largest worker, and how
   many workers were replaced;
4. the largest rules annotation the API server accepts, decided alone (the slowest
   legitimate review: it sets how far the budget is from a real decision).

Run: ``.venv/bin/python tests/benchmarks/bench_webhook.py`` (about a minute).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "webhook"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "safeyaml"))

from test_webhook_burst import benign_reviews, hostile_reviews
from test_webhook_findings import big_pod, big_rules
from webhook_helpers import make_pod, make_review, serve_webhook

from webhook.admission import Mode, Settings, review

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


def bench_largest() -> float:
    body = make_review(big_pod(big_rules(4000)))
    t0 = time.perf_counter()
    for _ in range(3):
        out = review(body, Mode.MUTATE, Settings())
    assert out["response"]["allowed"]
    return (time.perf_counter() - t0) / 3 * 1e3


def peak_rss(pid: int) -> int:
    """VmHWM of a process in bytes (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def round_trips(port: int, ctx: ssl.SSLContext) -> tuple[float, float]:
    body = make_review(make_pod())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1, ssl=ctx)) as s:

        async def health() -> None:
            async with s.get(f"https://127.0.0.1:{port}/healthz") as r:
                await r.read()

        async def mutate() -> None:
            async with s.post(f"https://127.0.0.1:{port}/mutate", json=body) as r:
                assert (await r.json())["response"]["allowed"]

        async def timed(fn) -> float:
            await fn()  # warm the connection
            t0 = time.perf_counter()
            for _ in range(N_HTTP):
                await fn()
            return (time.perf_counter() - t0) / N_HTTP * 1e3

        return await timed(health), await timed(mutate)


async def burst(port: int, ctx: ssl.SSLContext, with_hostile: bool) -> tuple[list[float], list[float], float]:
    """(benign latencies, hostile latencies, wall) of one burst on 200 kept-alive connections."""
    url = f"https://127.0.0.1:{port}"
    jobs = [("benign", path, body) for path, body, _ in benign_reviews()]
    if with_hostile:
        jobs += [("hostile", "/mutate", body) for body in hostile_reviews()]
    random.Random(7).shuffle(jobs)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=200)) as s:

        async def healthz() -> None:
            async with s.get(url + "/healthz") as r:
                await r.read()

        await asyncio.gather(*(healthz() for _ in range(200)))

        async def send(path: str, body: bytes) -> float:
            t0 = time.monotonic()
            async with s.post(url + path, data=body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 200
                await r.read()
            return time.monotonic() - t0

        t0 = time.monotonic()
        results = await asyncio.gather(*(send(path, body) for _, path, body in jobs))
        wall = time.monotonic() - t0
    benign = [r for (what, _, _), r in zip(jobs, results, strict=True) if what == "benign"]
    hostile = [r for (what, _, _), r in zip(jobs, results, strict=True) if what == "hostile"]
    return benign, hostile, wall


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


def run_burst(cert_dir: Path, ctx: ssl.SSLContext, with_hostile: bool) -> dict:
    with serve_webhook(cert_dir) as (proc, port):
        benign, hostile, wall = asyncio.run(burst(port, ctx, with_hostile))
        workers = children(proc.pid)
        figures = {
            "p50": pct(benign, 0.5),
            "p99": pct(benign, 0.99),
            "max": max(benign) * 1e3,
            "hostile_max": max(hostile) * 1e3 if hostile else 0.0,
            "wall": wall,
            "server_rss": peak_rss(proc.pid),
            "worker_rss": max((peak_rss(w) for w in workers), default=0),
            "workers_rss": sum(peak_rss(w) for w in workers),
        }
    figures["replaced"] = sum("replaced" in line for line in proc.log)
    return figures


def main() -> None:
    base, pure = bench_pure()
    print(f"pure decision:  {pure:8.1f} us/review   (JSON decode+encode only: {base:.1f} us; ratio {pure / base:.1f}x)")
    largest = bench_largest()
    print(f"largest rules annotation (~250 KiB, 4000 rules): {largest:.0f} ms to decide (budget 2000 ms)")
    with tempfile.TemporaryDirectory() as tmp:
        cert_dir = Path(tmp)
        subprocess.run(
            [str(Path(sys.executable).with_name("kubereach")), "webhook", "certs", "--service", "wh", "-n", "bench"]
            + ["--ip", "127.0.0.1", "--out", str(cert_dir)],
            check=True,
            capture_output=True,
        )
        ctx = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
        with serve_webhook(cert_dir) as (_, port):
            health, mutate = asyncio.run(round_trips(port, ctx))
        print(
            f"HTTPS /mutate:  {mutate:8.3f} ms/request (/healthz same connection: {health:.3f} ms; "
            f"ratio {mutate / health:.2f}x)"
        )
        alone = run_burst(cert_dir, ctx, with_hostile=False)
        mixed = run_burst(cert_dir, ctx, with_hostile=True)
    mib = 1 << 20
    print("burst of 180 benign reviews on 200 connections (fresh server each):")
    for label, f in (("alone (baseline)", alone), ("with 20 hostile in flight", mixed)):
        print(
            f"  {label:27s} p50 {f['p50']:6.1f} ms  p99 {f['p99']:6.1f} ms  max {f['max']:6.1f} ms  "
            f"wall {f['wall']:5.2f} s  hostile max {f['hostile_max']:6.1f} ms  "
            f"peak RSS server {f['server_rss'] / mib:5.1f} MiB, largest worker {f['worker_rss'] / mib:5.1f} MiB, "
            f"all workers {f['workers_rss'] / mib:5.1f} MiB  workers replaced {f['replaced']}"
        )
    print(
        f"  ratio with/without hostile: p50 {mixed['p50'] / alone['p50']:.2f}x, "
        f"p99 {mixed['p99'] / alone['p99']:.2f}x, "
        f"server peak RSS {mixed['server_rss'] / max(alone['server_rss'], 1):.2f}x"
    )
    print(f"  (load average now: {Path('/proc/loadavg').read_text().split()[0]} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
