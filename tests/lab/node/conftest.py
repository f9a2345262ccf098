"""Fixtures for the lab nodes: a real LabPool on a background event loop, no API server.

``node_factory(cni, nodes=1)`` starts a pool of nodes with a fresh instance id and a
recording reporter; teardown shuts it down and checks that none of its namespaces are
left. Probes are made
from inside a pod's namespace on a worker thread (a socket keeps the namespace it was
created in), so tests see exactly what a container would see.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # krl_node_helpers, beside this file

from krl_node_helpers import NodeHandle

from lab.node import LabPool
from lab.node.netns import list_netns


def _needs_root() -> None:
    if os.geteuid() != 0 or not Path("/run").exists():
        pytest.skip("needs root and network namespaces")


@pytest.fixture(scope="session")
def lab_loop():
    """One event loop on a background thread for all node tests (the lab's loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lab-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture(scope="session")
def netns_threads():
    pool = ThreadPoolExecutor(8, thread_name_prefix="test-netns")
    yield pool
    pool.shutdown()


@pytest.fixture
def node_factory(lab_loop, netns_threads, tmp_path):
    _needs_root()
    made: list[NodeHandle] = []

    def make(cni: str = "enforce", nodes: int = 1) -> NodeHandle:
        instance = "t" + secrets.token_hex(3)[:5]
        pool = LabPool(instance, cni, tmp_path / instance, nodes=nodes)
        handle = NodeHandle(pool, lab_loop, netns_threads)
        made.append(handle)
        handle.call(pool.start(), timeout=60)
        return handle

    yield make
    for h in made:
        h.call(h.pool.shutdown(), timeout=60)
        assert list_netns(h.pool.names.netns_prefix) == [], "namespaces left behind"
