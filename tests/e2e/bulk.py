"""A big namespace for measuring what a sweep costs the API server: many unrelated pods,
a few sources, one destination every source is denied (so each agent waits out its
``--timeout`` on a filtered port, and the sweep lasts as long as the test wants).

Shared by ``tests/e2e/test_api_manners.py`` and ``tests/benchmarks/bench_api_load.py``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

NAMESPACE = "bulk"
SOURCES = 3
# kubectl apply of a big file uses a handful of connections; so does this.
CREATE_THREADS = 8


def _pod(name: str, role: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"role": role, "app.kubernetes.io/name": "bulk", "shard": str(index % 10)},
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.27",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "securityContext": {"runAsUser": 1000 + index % 50},
                }
            ],
        },
    }


def objects(fillers: int) -> list[dict[str, Any]]:
    """The namespace, ``fillers`` unrelated pods, the sources, the destination and the
    policy that isolates it (no ingress rule: every probe to it is filtered)."""
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    docs += [_pod(f"filler-{i:04d}", "filler", i) for i in range(fillers)]
    docs += [_pod(f"src-{i}", "src", i) for i in range(SOURCES)]
    docs.append(_pod("dst", "dst", 0))
    docs.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "isolate-dst", "namespace": NAMESPACE},
            "spec": {"podSelector": {"matchLabels": {"role": "dst"}}, "policyTypes": ["Ingress"]},
        }
    )
    return docs


def populate(kubeconfig: str, fillers: int, *, timeout_s: float = 600) -> None:
    """Create the namespace through the API, as a user would, and wait until every pod runs."""
    from kubernetes import client
    from kubernetes import config as kconfig

    api_client = kconfig.new_client_from_config(config_file=kubeconfig)
    try:
        core, net = client.CoreV1Api(api_client), client.NetworkingV1Api(api_client)
        docs = objects(fillers)
        core.create_namespace(docs[0])
        net.create_namespaced_network_policy(NAMESPACE, docs[-1])
        with ThreadPoolExecutor(CREATE_THREADS) as pool:
            list(pool.map(lambda pod: core.create_namespaced_pod(NAMESPACE, pod), docs[1:-1]))
        want, stop = len(docs) - 2, time.monotonic() + timeout_s
        while True:
            pods = core.list_namespaced_pod(NAMESPACE).items
            running = sum(1 for p in pods if p.status and p.status.phase == "Running")
            if running == want:
                return
            if time.monotonic() > stop:
                raise TimeoutError(f"only {running}/{want} pods of {NAMESPACE} Running after {timeout_s:.0f} s")
            time.sleep(1)
    finally:
        api_client.close()


def sweep_args(kubeconfig: str, out: str, *, seconds: float, source_mode: str = "ephemeral") -> list[str]:
    """A sweep of the namespace whose agents each wait ``seconds`` on the filtered port."""
    return [
        "sweep",
        "--kubeconfig",
        kubeconfig,
        "-n",
        NAMESPACE,
        "--from",
        f"{NAMESPACE}:role=src",
        "--to",
        f"{NAMESPACE}:role=dst",
        "--port",
        "8080/TCP",
        "--timeout",
        str(seconds),
        "--retries",
        "0",
        "--settle",
        "0",
        "--source-mode",
        source_mode,
        "-o",
        out,
    ]


def traffic(state_dir: str, *, settled: bool = True) -> dict[str, Any]:
    """What the lab API has served so far (calls and bytes); ``settled``: once no request
    is in flight (a watch the client closed ends server-side within seconds)."""
    from lab.config import LabPaths
    from lab.control import LabClient

    client = LabClient.for_state_dir(LabPaths(Path(state_dir)))
    stop = time.monotonic() + 30  # a closed watch ends server-side within its 2 s idle check
    while True:
        status, doc = client.request("GET", "/lab/v1/traffic")
        assert status == 200, doc
        if not settled or doc["inFlight"] == 0 or time.monotonic() > stop:
            return dict(doc)
        time.sleep(0.2)


def served(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Calls and bytes between two readings of :func:`traffic`."""
    by_call = {k: v - before["byCall"].get(k, 0) for k, v in after["byCall"].items()}
    return {
        "calls": after["calls"] - before["calls"],
        "bytes": after["bytes"] - before["bytes"],
        "by_call": {k: v for k, v in sorted(by_call.items()) if v},
    }
