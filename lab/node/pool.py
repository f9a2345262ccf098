"""``LabPool``: the machines of one lab (implements :class:`lab.runtime.NodePool`).

``nodes`` :class:`lab.node.runtime.LabNode` s joined by the node network
(:class:`lab.node.network.Fabric`), plus the fake external hosts answering on the
documentation addresses. The pool owns what its nodes share: the worker threads that
enter namespaces, the filesystem view of non-root containers, and the file-descriptor
limit (every listener is a socket of this process). ``shutdown`` stops every pod and
deletes every namespace of the instance (:func:`lab.node.cleanup.cleanup_instance`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import images
from lab.node import names as N
from lab.node.cleanup import cleanup_instance
from lab.node.listeners import PortSpec, Serving, open_sockets
from lab.node.network import Fabric, run_in_netns
from lab.node.processes import mount_view_for, view_dir
from lab.node.runtime import LabNode

log = logging.getLogger(__name__)

WORKER_THREADS_PER_NODE = 4  # namespace-hopping threads: socket creation, forks, sysctls
MAX_WORKER_THREADS = 16


class LabPool:
    """``LabPool(instance_id, cni, state_dir, nodes=3)``; ``start()``, then ``nodes``."""

    def __init__(
        self,
        instance_id: str,
        cni: str,
        state_dir: Path | str,
        *,
        nodes: int = 1,
        missing_images: Sequence[str] = (),
    ) -> None:
        if not 1 <= nodes <= N.MAX_NODES:
            raise ValueError(f"a lab has 1 to {N.MAX_NODES} nodes, not {nodes}")
        self.names = N.InstanceNames(instance_id)
        self.state_dir = Path(state_dir)
        threads = min(WORKER_THREADS_PER_NODE * nodes, MAX_WORKER_THREADS)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix=f"krl-{instance_id}")
        self.fabric = Fabric(self.names, self._executor, nodes)
        missing = images.MissingImages.of(missing_images)
        self._nodes = [
            LabNode(
                self.names,
                cni,
                self.state_dir / f"node{i}",
                index=i,
                nodes=nodes,
                fabric=self.fabric,
                executor=self._executor,
                missing_images=missing,
            )
            for i in range(nodes)
        ]
        self._external: list[Serving] = []

    @property
    def nodes(self) -> list[LabNode]:
        return self._nodes

    async def start(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:  # every listener is a file descriptor in this process
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Leftovers of an earlier daemon with this id (it crashed): start from nothing.
        await asyncio.get_running_loop().run_in_executor(None, cleanup_instance, self.names.instance_id)
        view = mount_view_for(view_dir(self.names.instance_id))
        await self.fabric.start()
        for node in self._nodes:
            node.view = view
            await node.start()
        await self._start_external()

    async def _start_external(self) -> None:
        """Fake external hosts: identity listeners on every documentation address."""
        specs = [(host, PortSpec(port, proto)) for host in N.EXTERNAL_HOSTS for port, proto in N.EXTERNAL_PORTS]

        def open_all() -> list[tuple[str, tuple[PortSpec, socket.socket]]]:
            return [(host, open_sockets([spec], host)[0]) for host, spec in specs]

        opened = await run_in_netns(self._executor, self.names.ext_netns, open_all)
        for host, (spec, sock) in opened:
            serving = Serving()
            await serving.add(spec, sock, namespace="", pod=host, container="external")
            self._external.append(serving)

    async def shutdown(self) -> None:
        await asyncio.gather(*(node.shutdown() for node in self._nodes), return_exceptions=True)
        for serving in self._external:
            serving.close()
        self._external.clear()
        await asyncio.get_running_loop().run_in_executor(None, cleanup_instance, self.names.instance_id)
        self._executor.shutdown(wait=False)
