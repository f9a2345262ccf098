"""The seam between the lab's API server (``lab.api``) and its node runtime (``lab.node``).

The API server owns objects (validation, storage, resourceVersions, watches, garbage
collection). The node owns everything that touches the kernel (network namespaces,
veth links, addresses, processes, sockets, ipset/iptables). The API server tells the
node what changed through :class:`NodeRuntime`; the node reports pod status back
through the :data:`StatusReporter` it was handed. Objects cross this seam as plain
Kubernetes-shaped dicts (what the API server stores), so neither half depends on the
other's classes.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
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


class NodeRuntime(Protocol):
    """What the API server asks of the node. All coroutines run on the lab's event loop."""

    async def start(self) -> None:
        """Create the node namespace, the pod network and the fake external hosts."""

    async def run_pod(self, pod: Mapping[str, Any], report: StatusReporter) -> None:
        """Start a stored pod: namespace, address, init containers in order, then containers.

        Returns once the pod is set up (the containers keep running in the background);
        reports every status change through ``report``, including the final
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

    async def sync_network(
        self,
        namespaces: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        policies: Sequence[Mapping[str, Any]],
        services: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Recompile the CNI from every namespace, pod and NetworkPolicy (called on each change).

        ``services`` (optional; None keeps the last ones given) are Service objects whose
        ClusterIPs the node then routes to endpoint pods, like kube-proxy.
        """

    async def set_faults(self, faults: list[Fault]) -> None:
        """Replace the injected faults (an empty list clears them)."""

    async def shutdown(self) -> None:
        """Remove everything the node created, and nothing else."""


# Optional pod-create admission hook (see lab.admission): the API server calls it for
# every pod CREATE before storing, with the stored Mutating/ValidatingWebhookConfigurations.
AdmitPod = Callable[..., Awaitable[Any]]
