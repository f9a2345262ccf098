"""The lab daemon: the API server, the controllers and the nodes in one asyncio loop.

Started detached by ``kubereach lab up`` as ``python -m lab.daemon --state-dir DIR``.
Reads the instance record ``up`` wrote, starts the node pool (its nodes' namespaces,
the network between them, the CNI), serves the API on 127.0.0.1 (random port, HTTPS),
then announces itself in ``daemon.json``. On SIGTERM/SIGINT it stops serving and has
the pool remove everything it created.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lab import config
from lab.api.cluster import Cluster
from lab.api.server import ApiServer
from lab.api.tls import server_context
from lab.config import InstanceConfig, LabPaths
from lab.runtime import NodePool
from lab.store import Store

log = logging.getLogger("lab.daemon")


def make_pool(factory: str, inst: InstanceConfig, paths: LabPaths) -> NodePool:
    """``module:attr`` -> the node pool (``lab.node:LabPool`` unless a test says otherwise)."""
    module_name, _, attr = factory.partition(":")
    cls: Callable[..., NodePool] = getattr(importlib.import_module(module_name), attr or "LabPool")
    paths.node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return cls(
        instance_id=inst.instance_id,
        cni=inst.cni,
        state_dir=paths.node_dir,
        nodes=inst.nodes,
        missing_images=inst.missing_images,
    )


async def run(paths: LabPaths) -> int:
    record = config.read_json(paths.instance)
    if record is None:
        log.error("no instance record in %s", paths.root)
        return 2
    inst = InstanceConfig.from_dict(record)
    pool = make_pool(str(record.get("nodeFactory") or "lab.node:LabPool"), inst, paths)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("lab %s: starting %d node(s) (cni %s)", inst.instance_id, inst.nodes, inst.cni)
    try:
        await pool.start()
    except Exception:
        log.exception("the nodes failed to start; removing what they created")
        await _shutdown_pool(pool)
        return 1
    cluster = Cluster(Store(), pool.nodes)
    server = ApiServer(cluster, inst.token, server_context(paths.server_cert, paths.server_key))
    try:
        await cluster.start()
        url = await server.start()
    except Exception:
        log.exception("the API failed to start")
        await cluster.close()
        await _shutdown_pool(pool)
        return 1
    config.write_json(paths.daemon, {"pid": os.getpid(), "url": url, "port": server.port, "startedAt": time.time()})
    log.info("lab %s: API listening on %s", inst.instance_id, url)
    await stop.wait()
    log.info("lab %s: shutting down", inst.instance_id)
    await server.stop()
    await cluster.close()
    ok = await _shutdown_pool(pool)
    with contextlib.suppress(FileNotFoundError):
        paths.daemon.unlink()
    log.info("lab %s: stopped%s", inst.instance_id, "" if ok else " (node cleanup failed)")
    return 0 if ok else 1


async def _shutdown_pool(pool: NodePool) -> bool:
    try:
        await pool.shutdown()
        return True
    except Exception:
        log.exception("node shutdown failed")
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.daemon", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(LabPaths(args.state_dir)))


if __name__ == "__main__":
    sys.exit(main())
