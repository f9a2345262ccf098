"""Fixtures for lab tests.

``api_lab``: the real API (HTTPS, token, store, cluster logic, controllers) over an
in-memory :class:`FakePool` of three nodes, served from a background thread so the
synchronous ``kubernetes`` client and a real ``kubectl`` can talk to it. Needs no root. ``kubectl`` runs with
HOME and KUBECONFIG pointing into a temporary directory (never ~/.kube).

``real_lab``: ``kubereach lab up`` for real (daemon process, real node; needs root),
torn down with ``lab down``. Mark tests using it ``@pytest.mark.lab``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import contextlib

from fake_node import FakeNode, FakePool
from krl_lab_helpers import KUBECTL, REPO, RealLab, pod_manifest, start_real_lab, stop_real_lab

from lab.api import tls
from lab.api.cluster import Cluster
from lab.api.server import ApiServer
from lab.control import render_kubeconfig
from lab.store import Store


@dataclass
class ApiLab:
    """A running lab API over a fake node, reachable from this process and subprocesses."""

    tmp: Path
    url: str
    token: str
    ca_pem: bytes
    kubeconfig: Path
    nodes: list[FakeNode]
    cluster: Cluster
    loop: asyncio.AbstractEventLoop
    _clients: list[Any] = field(default_factory=list)
    _http: Any = None

    @property
    def node(self) -> FakeNode:
        """The first (control-plane) node."""
        return self.nodes[0]

    def node_of(self, namespace: str, name: str) -> FakeNode:
        """The node a pod was bound to (waits for the scheduler)."""
        import time

        for _ in range(200):
            pod = self.run(self.cluster.store.find, "pods", namespace, name)
            node = (pod or {}).get("spec", {}).get("nodeName")
            if node:
                return next(n for n in self.nodes if n.info.name == node)
            time.sleep(0.02)
        raise AssertionError(f"{namespace}/{name} was not scheduled")

    def stopped(self) -> list[tuple[str, str]]:
        return [k for n in self.nodes for k in n.stopped]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(HOME=str(self.tmp / "home"), KUBECONFIG=str(self.kubeconfig))
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(KUBECTL), *args], input=input, capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def api_client(self):
        from kubernetes import config as kconfig

        client = kconfig.new_client_from_config(config_file=str(self.kubeconfig))
        self._clients.append(client)
        return client

    def core(self):
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def networking(self):
        from kubernetes import client

        return client.NetworkingV1Api(self.api_client())

    def http(self):
        """A raw HTTPS client that verifies the lab's CA (for bodies the typed client won't send)."""
        import urllib3

        if self._http is None:
            ca = self.tmp / "ca.crt"
            ca.write_bytes(self.ca_pem)
            self._http = urllib3.PoolManager(ca_certs=str(ca), cert_reqs="CERT_REQUIRED")
        return self._http

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn, *args):
        """Run a plain function on the lab's loop thread (store access is single-threaded)."""

        async def wrapper():
            return fn(*args)

        return self.call(wrapper())

    def namespace(self, prefix: str = "t") -> str:
        """A fresh namespace for one test (tests share the lab, never names)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core().create_namespace({"metadata": {"name": name}})
        return name


API_LAB_NODES = 3
MISSING_IMAGE = "registry.example.com/missing/app:1.0"  # the api_lab's pool fails to pull this one


@pytest.fixture(scope="session")
def api_lab(tmp_path_factory) -> ApiLab:
    tmp = tmp_path_factory.mktemp("krl-api")
    (tmp / "home").mkdir()
    material = tls.generate()
    (tmp / "server.crt").write_bytes(material.cert_pem)
    (tmp / "server.key").write_bytes(material.key_pem)
    token = "test-" + uuid.uuid4().hex
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def boot():
        pool = FakePool("fake", nodes=API_LAB_NODES, missing_images=[MISSING_IMAGE])
        await pool.start()
        cluster = Cluster(Store(), pool.nodes)
        await cluster.start()
        server = ApiServer(cluster, token, tls.server_context(tmp / "server.crt", tmp / "server.key"))
        holder.update(nodes=pool.nodes, cluster=cluster, server=server, url=await server.start())

    def thread_main():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(boot())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=thread_main, name="krl-api-lab", daemon=True)
    thread.start()
    assert ready.wait(30), "lab API did not start"
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(render_kubeconfig(holder["url"], token, material.ca_pem))
    kubeconfig.chmod(0o600)
    lab = ApiLab(tmp, holder["url"], token, material.ca_pem, kubeconfig, holder["nodes"], holder["cluster"], loop)
    yield lab
    for client in lab._clients:
        with contextlib.suppress(Exception):
            client.close()

    async def stop():
        await holder["server"].stop()
        await holder["cluster"].close()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(autouse=True)
def _close_api_clients(request):
    """Clients a test made of the session's API lab are closed after it: each holds a
    thread pool and keep-alive sockets on both ends, and a few hundred tests' worth push
    the process past 1,024 file descriptors (where select() stops working)."""
    yield
    if "api_lab" in request.fixturenames:
        lab = request.getfixturevalue("api_lab")
        for client in lab._clients:
            with contextlib.suppress(Exception):
                client.close()
        lab._clients.clear()


@pytest.fixture
def ns(api_lab) -> str:
    name = api_lab.namespace()
    yield name
    with contextlib.suppress(Exception):
        api_lab.core().delete_namespace(name)


@pytest.fixture
def pod_body():
    return pod_manifest


@pytest.fixture(scope="module")
def real_lab(tmp_path_factory) -> RealLab:
    """The demo on a real lab (cni enforce), shared by one test module; `lab down` after."""
    lab = start_real_lab(tmp_path_factory.mktemp("krl-real"), "-f", str(REPO / "manifests" / "demo"))
    yield lab
    stop_real_lab(lab)
