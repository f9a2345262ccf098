"""Helpers for the lab node tests: drive a LabNode from a test thread, probe from pods.

Kept out of conftest.py so test modules can import them by name.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab.controllers.endpoints import desired_slices
from lab.node import LabNode, LabPool
from lab.node.netns import in_netns
from lab.runtime import Fault, NetworkState

AGENT_IMAGE = "ghcr.io/kubereach/agent:0.1.0"


class NodeHandle:
    """A started LabPool plus helpers to drive its nodes synchronously from a test.

    ``run_pod`` puts a pod on the node its ``spec.nodeName`` names (``krl-node-<i>``,
    default the first); ``sync`` hands every node the cluster's state, as the API server does.
    """

    def __init__(self, pool: LabPool, loop: asyncio.AbstractEventLoop, threads: ThreadPoolExecutor) -> None:
        self.pool = pool
        self.node: LabNode = pool.nodes[0]
        self.loop = loop
        self.threads = threads
        self.statuses: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def reporter(self, key: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
        def report(status: dict[str, Any]) -> None:
            assert threading.current_thread().name == "lab-loop", "reports must come from the loop thread"
            self.statuses[key] = status
            self.history.setdefault(key, []).append(status)

        return report

    def run_pod(self, pod: Mapping[str, Any], *, wait: str | None = "Running", timeout: float = 15) -> dict[str, Any]:
        meta = pod["metadata"]
        key = (meta.get("namespace", "default"), meta["name"])
        spec = {"nodeName": self.node.node_name, **(pod.get("spec") or {})}
        stored = {**pod, "metadata": {"namespace": "default", **meta}, "spec": spec}
        self.pods[key] = stored
        self.call(self.node_of(key).run_pod(stored, self.reporter(key)))
        if wait:
            return self.wait_phase(key, wait, timeout=timeout)
        return self.statuses.get(key, {})

    def wait_phase(self, key: tuple[str, str], *phases: str, timeout: float = 15) -> dict[str, Any]:
        def reached(st: dict[str, Any]) -> bool:
            if st.get("phase") in phases:
                return True
            if st.get("phase") in ("Succeeded", "Failed"):  # final: waiting longer cannot help
                logs = {
                    c["name"]: self.node_of(key).read_log(key[0], key[1], c["name"])[-2000:]
                    for c in st.get("containerStatuses", []) + st.get("initContainerStatuses", [])
                    if "waiting" not in c["state"]
                }
                raise AssertionError(f"{key}: ended {st.get('phase')} while waiting for {phases}: {st}; logs {logs}")
            return False

        return self.wait(key, reached, timeout=timeout, what=f"phase {phases}")

    def wait(self, key, predicate, *, timeout: float = 15, what: str = "condition") -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.statuses.get(key)
            if st is not None and predicate(st):
                return st
            time.sleep(0.02)
        raise AssertionError(f"{key}: {what} not reached in {timeout}s; last status {self.statuses.get(key)}")

    def node_of(self, key: tuple[str, str]) -> LabNode:
        wanted = (self.pods[key].get("spec") or {}).get("nodeName")
        return next(n for n in self.pool.nodes if n.node_name == wanted)

    def read_log(self, namespace: str, name: str, container: str) -> bytes:
        return self.node_of((namespace, name)).read_log(namespace, name, container)

    def state(self, namespaces=(), policies=(), services=(), faults=()) -> NetworkState:
        pods = []
        for key, pod in self.pods.items():
            st = self.statuses.get(key, {})
            pods.append({**pod, "metadata": {**pod["metadata"], "uid": f"uid-{key[0]}-{key[1]}"}, "status": st})
        ns_names = {k[0] for k in self.pods} | {(n["metadata"]["name"]) for n in namespaces}
        given = {n["metadata"]["name"]: n for n in namespaces}
        all_ns = [given.get(n, {"metadata": {"name": n}}) for n in sorted(ns_names)]
        slices = []
        for svc in services:
            svc = {**svc, "metadata": {"namespace": "default", "uid": "svc", **svc["metadata"]}}
            ns_pods = [p for p in pods if p["metadata"]["namespace"] == svc["metadata"]["namespace"]]
            for s in desired_slices(svc, ns_pods):
                slices.append({**s, "metadata": {**s["metadata"], "namespace": svc["metadata"]["namespace"]}})
        return NetworkState(tuple(all_ns), tuple(pods), tuple(policies), tuple(services), tuple(slices), tuple(faults))

    def sync(self, namespaces=(), policies=(), services=(), faults: tuple[Fault, ...] | list[Fault] = ()) -> None:
        """What the API server does after a change: hand every node the cluster's state
        (Services get their EndpointSlices from the real controller's logic)."""
        state = self.state(namespaces, policies, services, faults)

        async def all_nodes() -> None:
            await asyncio.gather(*(n.sync_network(state) for n in self.pool.nodes))

        self.call(all_nodes())

    def pod_netns(self, namespace: str, name: str) -> str:
        return self.node_of((namespace, name)).pod_netns(namespace, name)

    def ip(self, namespace: str, name: str) -> str:
        return self.statuses[(namespace, name)]["podIP"]

    def probe(
        self, src: tuple[str, str] | str, address: str, port: int, protocol: str = "TCP", timeout: float = 0.6
    ) -> tuple[str, dict[str, Any] | None]:
        """(state, identity) as seen from inside ``src`` (a pod key or a namespace name)."""
        netns = src if isinstance(src, str) else self.pod_netns(*src)
        return self.threads.submit(_probe_in, netns, address, port, protocol, timeout).result(timeout + 5)

    def probe_many(self, jobs: list[tuple[Any, str, int, str]], timeout: float = 0.6) -> list[str]:
        futs = [
            self.threads.submit(
                _probe_in, src if isinstance(src, str) else self.pod_netns(*src), addr, port, proto, timeout
            )
            for src, addr, port, proto in jobs
        ]
        return [f.result(timeout + 10)[0] for f in futs]


def _probe_in(netns: str, address: str, port: int, protocol: str, timeout: float):
    with in_netns(netns):
        kind = socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
    with sock:
        sock.settimeout(timeout)
        try:
            if protocol == "TCP":
                sock.connect((address, port))
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            else:
                sock.connect((address, port))
                data = b""
                for _ in range(2):  # one retry, like the agent
                    sock.send(b"ping")
                    try:
                        data = sock.recv(4096)
                        break
                    except TimeoutError:
                        continue
                if not data:
                    return "filtered", None
        except ConnectionRefusedError:
            return "closed", None
        except TimeoutError:
            return "filtered", None
        except OSError as exc:
            return f"error:{exc.errno}", None
    try:
        return "open", json.loads(data.decode().splitlines()[0])
    except (ValueError, IndexError):
        return "open", None


def listener_pod(
    name: str,
    *,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    ports: list[tuple[int, str]] | None = None,
    named: Mapping[int, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A pod with one ordinary container listening on ``ports`` (default 80/TCP)."""
    named = named or {}
    port_list = [
        {"containerPort": p, "protocol": proto, **({"name": named[p]} if p in named else {})}
        for p, proto in (ports or [(80, "TCP")])
    ]
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"app": name})},
        "spec": {"containers": [{"name": "app", "image": "nginx", "ports": port_list}], **spec},
    }


def agent_container(name: str, script: str, *, uid: int | None = None, **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": AGENT_IMAGE, "command": ["sh", "-c", script], **extra}
    if uid is not None:
        c["securityContext"] = {**c.get("securityContext", {}), "runAsUser": uid}
    return c
