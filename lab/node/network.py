"""The lab's network: a node namespace per node, pods behind veth pairs, a bridge between nodes.

Layout (all inside namespaces this module creates; nothing touches the host's links)::

    krl-<id>-fabric   bridge: the node network 172.18.0.0/24 (like kind's Docker network)
      ├─veth─ krl-<id>-node0  eth0 172.18.0.10   lo: 169.254.1.1   pods 10.244.0.0/20
      │         ├─veth─ krl-<id>-0-1  eth0 10.244.0.1/32
      │         └─veth─ krl-<id>-0-2  eth0 10.244.0.2/32
      ├─veth─ krl-<id>-node1  eth0 172.18.0.11   lo: 169.254.1.1   pods 10.244.16.0/20
      └─veth─ krl-<id>-ext    eth0 172.18.0.254, 192.0.2.10 ... (the fake external hosts)

Every pod routes ``default via 169.254.1.1``; its node answers ARP for that address on
every veth because it is local (on its loopback), and routes each local pod's /32 to its
veth, other nodes' pod CIDRs to their InternalIP and the documentation ranges to the
external hosts (routing without encapsulation, like flannel's host-gw or Calico without
overlay). No namespace has a default route: nothing leaves the lab. Pod set-up is
batched: many pods asked for at once share one ``ip -batch`` per stage, which is what
makes hundreds of pods cheap. Addresses are reused after their pod is gone, oldest
first, so a long-running lab with Jobs does not run out.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from lab.node import names as N
from lab.node.netns import in_netns, ip_batch, write_sysctl

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Pod-side `ip -batch` processes run at once (each is a short exec; more only adds
# contention on the two shared cores).
_POD_SIDE_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class PodSlot:
    """One pod's place on the network, e.g. ``PodSlot(7, "krl-3fa2b1-0-7", "krl3fa2b1p7", "10.244.0.7")``."""

    index: int
    netns: str
    link: str
    ip: str


async def run_in_netns(executor: ThreadPoolExecutor, netns: str, fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` on a worker thread inside ``netns`` (sockets, sysctls, fork)."""

    def job() -> _T:
        with in_netns(netns):
            return fn(*args)

    return await asyncio.get_running_loop().run_in_executor(executor, job)


class Fabric:
    """The node network: the bridge joining the nodes, and the fake external hosts on it."""

    def __init__(self, names: N.InstanceNames, executor: ThreadPoolExecutor, nodes: int) -> None:
        self.names = names
        self.nodes = nodes
        self._executor = executor

    async def start(self) -> None:
        n = self.names
        await ip_batch([f"netns add {n.fabric_netns}", f"netns add {n.ext_netns}"])
        await ip_batch(
            [
                "link set lo up",
                f"link add {n.bridge} type bridge",
                f"link set {n.bridge} up",
                f"link add {n.ext_link} type veth peer name eth0 netns {n.ext_netns}",
                f"link set {n.ext_link} master {n.bridge} up",
            ],
            netns=n.fabric_netns,
        )
        await run_in_netns(self._executor, n.ext_netns, _forwarding_sysctls)
        await ip_batch(
            [
                "link set lo up",
                f"addr add {N.EXTERNAL_ROUTER_IP}/{N.NODE_NETWORK.prefixlen} dev eth0",
                *[f"addr add {host}/32 dev eth0" for host in N.EXTERNAL_HOSTS],
                "link set eth0 up",
                *[f"route add {N.node_pod_cidr(i)} via {N.node_ip(i)} dev eth0" for i in range(self.nodes)],
            ],
            netns=n.ext_netns,
        )

    async def plug(self, node: int) -> None:
        """Connect node ``node``'s namespace (it must exist) to the bridge as its ``eth0``."""
        n = self.names
        await ip_batch(
            [
                f"link add {n.node_link(node)} type veth peer name eth0 netns {n.node_netns(node)}",
                f"link set {n.node_link(node)} master {n.bridge} up",
            ],
            netns=n.fabric_netns,
        )


class PodNetwork:
    """One node's side: its namespace, uplink, routes, and its pods' namespaces and addresses."""

    def __init__(
        self, names: N.InstanceNames, executor: ThreadPoolExecutor, *, node: int = 0, nodes: int = 1, fabric: Fabric
    ) -> None:
        self.names = names
        self.node = node
        self.nodes = nodes
        self.fabric = fabric
        self.netns = names.node_netns(node)
        self.cidr = N.node_pod_cidr(node)
        self._executor = executor
        self._next_index = 1
        self._free: collections.deque[int] = collections.deque()
        self._pending: list[tuple[PodSlot, asyncio.Future[None]]] = []
        self._batch_task: asyncio.Task[None] | None = None
        self._sem = asyncio.Semaphore(_POD_SIDE_CONCURRENCY)
        self._pending_del: list[tuple[list[PodSlot], asyncio.Future[None]]] = []
        self._del_task: asyncio.Task[None] | None = None

    # -- node -------------------------------------------------------------------------
    async def start(self) -> None:
        await ip_batch([f"netns add {self.netns}"])
        await self.in_netns(self.netns, _forwarding_sysctls)
        await self.fabric.plug(self.node)
        others = [i for i in range(self.nodes) if i != self.node]
        await ip_batch(
            [
                "link set lo up",
                f"addr add {N.GATEWAY}/32 dev lo",
                f"addr add {N.node_ip(self.node)}/{N.NODE_NETWORK.prefixlen} dev eth0",
                "link set eth0 up",
                *[f"route add {N.node_pod_cidr(i)} via {N.node_ip(i)} dev eth0" for i in others],
                *[f"route add {cidr} via {N.EXTERNAL_ROUTER_IP} dev eth0" for cidr in N.EXTERNAL_CIDRS],
            ],
            netns=self.netns,
        )

    async def in_netns(self, netns: str, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on a worker thread inside ``netns`` (sockets, sysctls, fork)."""
        return await run_in_netns(self._executor, netns, fn, *args)

    # -- pods -------------------------------------------------------------------------
    def allocate(self) -> PodSlot:
        """A fresh address while the CIDR has one, then the longest-free one."""
        if self._next_index <= N.pods_per_node():
            index = self._next_index
            self._next_index += 1
        elif self._free:
            index = self._free.popleft()
        else:
            raise RuntimeError(f"node {N.node_name(self.node)} has no pod address left ({self.cidr} in use)")
        return PodSlot(
            index, self.names.pod_netns(self.node, index), self.names.pod_link(index), N.pod_ip(self.cidr, index)
        )

    def release(self, slot: PodSlot) -> None:
        """The pod is gone: its index (address, names) may be handed out again, last."""
        self._free.append(slot.index)

    async def attach(self, slot: PodSlot) -> None:
        """Create the pod's namespace, veth pair, address and routes (batched with others)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((slot, fut))
        if self._batch_task is None or self._batch_task.done():
            self._batch_task = asyncio.create_task(self._drain())
        await fut

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let concurrent run_pod calls join this batch
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._attach_batch([s for s, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def _attach_batch(self, slots: list[PodSlot]) -> None:
        node = self.netns
        await ip_batch([f"netns add {s.netns}" for s in slots])
        lines: list[str] = []
        for s in slots:
            lines += [
                f"link add {s.link} type veth peer name eth0 netns {s.netns}",
                f"link set {s.link} up",
                f"route add {s.ip}/32 dev {s.link} scope link",
            ]
        await ip_batch(lines, netns=node)

        async def pod_side(s: PodSlot) -> None:
            async with self._sem:
                await ip_batch(
                    [
                        "link set lo up",
                        f"addr add {s.ip}/32 dev eth0",
                        "link set eth0 up",
                        f"route add {N.GATEWAY} dev eth0 scope link",
                        f"route add default via {N.GATEWAY} dev eth0",
                    ],
                    netns=s.netns,
                )

        await asyncio.gather(*(pod_side(s) for s in slots))
        await asyncio.get_running_loop().run_in_executor(self._executor, _pod_sysctls, [s.netns for s in slots])

    async def detach(self, slots: list[PodSlot]) -> None:
        """Delete pod namespaces; their veth pairs and routes go with them (batched with others)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending_del.append((slots, fut))
        if self._del_task is None or self._del_task.done():
            self._del_task = asyncio.create_task(self._drain_deletes())
        await fut

    async def _drain_deletes(self) -> None:
        await asyncio.sleep(0)
        while self._pending_del:
            batch, self._pending_del = self._pending_del, []
            try:
                await ip_batch([f"netns del {s.netns}" for slots, _ in batch for s in slots], force=True)
            finally:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)


def _forwarding_sysctls() -> None:
    write_sysctl("net.ipv4.ip_forward", "1")
    for scope in ("all", "default"):
        write_sysctl(f"net.ipv4.conf.{scope}.rp_filter", "0")


# What containerd (enable_unprivileged_ports/icmp, the default since 2.0) sets in every
# pod's namespace: any UID may bind low ports and open ICMP echo sockets.
RUNTIME_SYSCTLS = {"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}


def _pod_sysctls(netnses: list[str]) -> None:
    for ns in netnses:
        with in_netns(ns):
            for key, value in RUNTIME_SYSCTLS.items():
                try:
                    write_sysctl(key, value)
                except OSError as exc:
                    log.debug("%s in %s: %s", key, ns, exc)


def apply_pod_sysctls(sysctls: list[tuple[str, str]]) -> list[str]:
    """``spec.securityContext.sysctls`` (call inside the pod's namespace); returns problems.

    Only ``net.*`` sysctls belong to the network namespace; anything else would change
    the host, so it is refused.
    """
    problems = []
    for key, value in sysctls:
        if not key.startswith("net.") or "/" in key or ".." in key:
            problems.append(f"sysctl {key}: the lab only sets namespaced net.* sysctls")
            continue
        try:
            write_sysctl(key, value)
        except OSError as exc:
            problems.append(f"sysctl {key}={value}: {exc.strerror or exc}")
    return problems
