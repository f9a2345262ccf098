"""How fast the lab API takes pods from a client (over HTTPS, the official Python client).

Figures: 200 pod creations (two listening containers each) against an in-memory node,
a LIST of the 200, and a baseline of 200 GET /version round trips measured in the same
run (the cost of HTTPS + auth + the client itself, with no store work), with the ratio.
Run: .venv/bin/python tests/benchmarks/bench_lab_api.py
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

from fake_node import FakePool
from kubernetes import client, config

from lab.api import tls
from lab.api.cluster import Cluster
from lab.api.server import ApiServer
from lab.control import render_kubeconfig
from lab.store import Store

PODS = 200


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="krl-bench-"))
    material = tls.generate()
    (tmp / "s.crt").write_bytes(material.cert_pem)
    (tmp / "s.key").write_bytes(material.key_pem)
    loop = asyncio.new_event_loop()
    box: dict = {}
    ready = threading.Event()

    async def boot():
        cluster = Cluster(Store(), FakePool().nodes)
        await cluster.start()
        server = ApiServer(cluster, "tok", tls.server_context(tmp / "s.crt", tmp / "s.key"))
        box["url"] = await server.start()

    def run():
        loop.run_until_complete(boot())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    (tmp / "kubeconfig").write_text(render_kubeconfig(box["url"], "tok", material.ca_pem))
    api = config.new_client_from_config(config_file=str(tmp / "kubeconfig"))
    core = client.CoreV1Api(api)
    version = client.VersionApi(api)
    core.create_namespace({"metadata": {"name": "bench"}})

    t0 = time.perf_counter()
    for _ in range(PODS):
        version.get_code()
    baseline = time.perf_counter() - t0

    t0 = time.perf_counter()
    for i in range(PODS):
        core.create_namespaced_pod(
            "bench",
            {
                "metadata": {"name": f"p{i}", "labels": {"app": f"a{i % 10}"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "x", "ports": [{"containerPort": 80}]},
                        {"name": "b", "image": "x", "ports": [{"containerPort": 81}]},
                    ]
                },
            },
        )
    creates = time.perf_counter() - t0

    t0 = time.perf_counter()
    items = core.list_namespaced_pod("bench").items
    listing = time.perf_counter() - t0
    assert len(items) == PODS

    print(f"baseline: {PODS} GET /version          {baseline:6.2f} s  ({PODS / baseline:6.0f}/s)")
    print(f"create:   {PODS} pods (2 containers)    {creates:6.2f} s  ({PODS / creates:6.0f}/s)")
    print(f"list:     {PODS} pods                   {listing:6.3f} s")
    print(f"ratio create/baseline: {creates / baseline:.2f}x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
