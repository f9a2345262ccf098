"""The cluster snapshot: plain, typed, immutable data. No Kubernetes client objects.

Both the YAML loader and live discovery produce these; the policy model, the plan and
the reports consume them. Field docstrings give Kubernetes examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

from probe.schema import Protocol

NamespaceName = NewType("NamespaceName", str)
PodName = NewType("PodName", str)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object came from, for error messages: ``demo/app.yaml, document 3``."""

    source: str  # a file path, or "cluster" / "context <name>"
    document: int | None = None

    def __str__(self) -> str:
        return self.source if self.document is None else f"{self.source}, document {self.document}"


@dataclass(frozen=True, slots=True)
class Namespace:
    name: NamespaceName
    labels: Mapping[str, str]  # always includes kubernetes.io/metadata.name=<name>
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class ContainerPort:
    """``containerPort: 8080, name: http, protocol: TCP`` of one container."""

    port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Container:
    """One container of a pod, with what intra-pod enforceability needs of its securityContext."""

    name: str
    image: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    run_as_user: int | None = None  # effective: container securityContext, else the pod's
    capabilities_add: tuple[str, ...] = ()  # securityContext.capabilities.add, as written: ("NET_ADMIN",)
    kind: str = "container"  # "container" | "init" | "ephemeral"
    restart_policy: str | None = None  # init containers only: "Always" marks a native sidecar
    capabilities_drop: tuple[str, ...] = ()  # securityContext.capabilities.drop, as written: ("ALL",)
    privileged: bool = False  # securityContext.privileged: every capability, every device

    @property
    def native_sidecar(self) -> bool:
        """An init container with ``restartPolicy: Always`` (KEP-753): runs with the pod."""
        return self.kind == "init" and self.restart_policy == "Always"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: NamespaceName
    name: PodName
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    ips: tuple[str, ...] = ()  # status.podIPs (podIP first); empty when not scheduled
    host_network: bool = False
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    ephemeral_containers: tuple[Container, ...] = ()
    uid: str | None = None  # metadata.uid
    phase: str | None = None  # status.phase
    owner_kinds: tuple[str, ...] = ()
    origin: Origin | None = None

    @property
    def key(self) -> str:
        """``namespace/pod``, the identifier used in CSV rows."""
        return f"{self.namespace}/{self.name}"

    @property
    def ip(self) -> str | None:
        return self.ips[0] if self.ips else None

    @property
    def serving_containers(self) -> tuple[Container, ...]:
        """The containers that own the pod's ports: regular ones, then native sidecars.

        A native sidecar (KEP-753) is an init container with ``restartPolicy: Always``:
        it keeps running next to the regular containers, so its declared ports are the
        pod's ports like any container's, and upstream resolves NetworkPolicy named ports
        and Service ``targetPort`` names against them too. Plain init containers have
        exited by the time the pod serves, and ephemeral containers declare no ports.
        """
        return self.containers + tuple(c for c in self.init_containers if c.restart_policy == "Always")


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    target_port: int | str | None
    protocol: Protocol = Protocol.TCP
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: NamespaceName
    name: str
    selector: Mapping[str, str] | None
    cluster_ips: tuple[str, ...] = ()
    ports: tuple[ServicePort, ...] = ()
    type: str = "ClusterIP"
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicyObject:
    """A NetworkPolicy as declared: the validated ``spec`` kept as plain data.

    The policy model compiles ``spec`` into matchers; keeping the declared form here
    lets reports quote it and ``explain`` point at rule indexes.
    """

    namespace: NamespaceName
    name: str
    spec: Mapping[str, Any]
    origin: Origin | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    namespaces: Mapping[str, Namespace]
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()
    policies: tuple[NetworkPolicyObject, ...] = ()
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)  # unknown kinds, counted

    def pod(self, key: str) -> Pod | None:
        ns, _, name = key.partition("/")
        for p in self.pods:
            if p.namespace == ns and p.name == name:
                return p
        return None
