"""The seam between the lab's API server (``lab.api``) and its node runtime (``lab.node``).

The API server owns objects (validation, storage, resourceVersions, watches, garbage
collection, controllers, scheduling). The nodes own everything that touches the kernel
(network namespaces, veth links, addresses, processes, sockets, ipset/iptables). A
:class:`NodePool` brings the nodes up; the API server tells each :class:`NodeRuntime`
what changed (the pods bound to it, the :class:`NetworkState` of the cluster); a node
reports pod status back through the :data:`StatusReporter` it was handed. Objects cross this seam as plain
Kubernetes-shaped dicts (what the API server stores), so neither half depends on the
other's classes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Called by the node with the pod's complete new ``status`` dict (phase, podIP, podIPs,
# hostIP, startTime, conditions, initContainerStatuses, containerStatuses,
# ephemeralContainerStatuses). The API server stores it, bumps resourceVersion and
# emits a MODIFIED watch event. Safe to call from the event loop thread only.
StatusReporter = Callable[[dict[str, Any]], None]


class FaultAction(enum.StrEnum):
    ALLOW = "allow"  # let traffic pass that the policies deny (a leaky CNI)
    DENY = "deny"  # drop traffic that the policies allow (an over-eager CNI)


@dataclass(frozen=True, slots=True)
class Fault:
    """A deliberate discrepancy between the CNI and the declared policies.

    ``source`` and ``destination`` are ``namespace/pod``; ``port``/``protocol`` the
    destination port, e.g. ``Fault(ALLOW, "shop/web", "shop/db", 5432, "TCP")``.
    """

    action: FaultAction
    source: str
    destination: str
    port: int
    protocol: str = "TCP"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "source": self.source,
            "destination": self.destination,
            "port": self.port,
            "protocol": self.protocol,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        return cls(
            FaultAction(data["action"]),
            data["source"],
            data["destination"],
            int(data["port"]),
            str(data.get("protocol", "TCP")).upper(),
        )


class LogNotFound(LookupError):
    """No such pod or container, or it has not started yet (the API answers 400/404)."""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node tells the API server about itself (becomes its Node object).

    ``NodeInfo("krl-node-0", "172.18.0.10", "10.244.0.0/20", control_plane=True)``.
    """

    name: str
    internal_ip: str
    pod_cidr: str
    control_plane: bool = False
    capacity: Mapping[str, str] = field(default_factory=lambda: {"cpu": "2", "memory": "4Gi", "pods": "110"})
    kernel_version: str = ""
    os_image: str = "kubereach lab"


@dataclass(frozen=True, slots=True)
class NetworkState:
    """Everything a node's CNI compiles from, handed to every node after each change.

    Explicit on purpose: the rule set of a node is a pure function of this value and the
    node's own name, so a node can be checked (and later policy kinds or enforcement
    modes added) without looking anywhere else. Objects are the API server's stored dicts.
    """

    namespaces: tuple[Mapping[str, Any], ...] = ()
    pods: tuple[Mapping[str, Any], ...] = ()
    policies: tuple[Mapping[str, Any], ...] = ()
    services: tuple[Mapping[str, Any], ...] = ()
    endpoint_slices: tuple[Mapping[str, Any], ...] = ()
    faults: tuple[Fault, ...] = ()


class NodeRuntime(Protocol):
    """One node, as the API server sees it. All coroutines run on the lab's event loop."""

    @property
    def info(self) -> NodeInfo:
        """Name, address, pod CIDR: fixed once :meth:`NodePool.start` returned."""

    async def run_pod(self, pod: Mapping[str, Any], report: StatusReporter) -> None:
        """Start a pod bound to this node: namespace, address, init containers in order, then containers.

        Returns once the pod is set up (the containers keep running in the background);
        reports every status change through ``report``, including readiness, the final
        Succeeded/Failed phase and exit codes, and ``activeDeadlineSeconds`` expiry.
        """

    async def stop_pod(self, namespace: str, name: str) -> None:
        """Kill the pod's processes, close its sockets, remove its namespace and links."""

    async def add_ephemeral_container(
        self, pod: Mapping[str, Any], container: Mapping[str, Any], report: StatusReporter
    ) -> None:
        """Start one ephemeral container in the existing pod's namespace, as its securityContext UID."""

    def read_log(self, namespace: str, name: str, container: str) -> bytes:
        """stdout and stderr of a container so far; raises :class:`LogNotFound`."""

    async def sync_network(self, state: NetworkState) -> None:
        """Recompile this node's CNI from ``state`` (called after each change, on every node).

        Policies are enforced where the traffic is: a pod's egress on its own node, its
        ingress on its own node. Service ClusterIPs are routed to the ready endpoints of
        ``state.endpoint_slices``, like kube-proxy; ``state.faults`` apply first.
        """


class NodePool(Protocol):
    """The machines of one lab: its nodes and the network between them."""

    @property
    def nodes(self) -> Sequence[NodeRuntime]:
        """The nodes, the first one being the control-plane node."""

    async def start(self) -> None:
        """Create every node, the network joining them and the fake external hosts."""

    async def shutdown(self) -> None:
        """Remove everything the pool created, and nothing else."""


# Optional pod-create admission hook (see lab.admission): the API server calls it for
# every pod CREATE before storing, with the stored Mutating/ValidatingWebhookConfigurations.
AdmitPod = Callable[..., Awaitable[Any]]
