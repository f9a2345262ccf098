"""The cluster snapshot: plain, typed, immutable data. No Kubernetes client objects.

Both the YAML loader and live discovery produce these; the policy model, the plan and
the reports consume them. Field docstrings give Kubernetes examples.
"""

from __future__ import annotations

import enum
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
    name: str
    image: str | None = None
    ports: tuple[ContainerPort, ...] = ()
    run_as_user: int | None = None  # effective: container securityContext, else the pod's
    capabilities_add: tuple[str, ...] = ()
    kind: str = "container"  # "container" | "init" | "ephemeral"
    restart_policy: str | None = None  # init containers only: "Always" marks a native sidecar


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


class Tier(enum.StrEnum):
    """The cluster-wide tiers: Admin is evaluated before NetworkPolicies, Baseline after."""

    ADMIN = "Admin"
    BASELINE = "Baseline"


@dataclass(frozen=True, slots=True)
class ClusterPolicyObject:
    """A cluster-scoped policy of the Admin or Baseline tier, validated, in one canonical form.

    Declared as ``ClusterNetworkPolicy`` (``policy.networking.k8s.io/v1alpha2`` or
    ``v1beta1``), ``AdminNetworkPolicy`` or ``BaselineAdminNetworkPolicy``
    (``policy.networking.k8s.io/v1alpha1``). ``spec`` always has the v1alpha2 shape
    (``subject``, ``ingress``, ``egress``; rules with ``action`` Accept/Deny/Pass, peers and
    ``protocols``), whatever was declared: the v1alpha1 ``Allow`` is ``Accept`` and its
    ``ports`` are ``protocols``, so the model knows one form. Rule indexes are the declared ones.
    """

    kind: str  # ClusterNetworkPolicy | AdminNetworkPolicy | BaselineAdminNetworkPolicy
    api_version: str  # e.g. policy.networking.k8s.io/v1alpha2
    name: str
    tier: Tier
    priority: int | None  # 0-1000, lower first; None: a BaselineAdminNetworkPolicy (it has none)
    spec: Mapping[str, Any]
    origin: Origin | None = None

    @property
    def key(self) -> str:
        """``cnp/default-deny``, ``anp/allow-monitoring``, ``banp/default``: kind short name and name."""
        return f"{CLUSTER_POLICY_SHORT_NAMES[self.kind]}/{self.name}"


CLUSTER_POLICY_SHORT_NAMES = {
    "ClusterNetworkPolicy": "cnp",
    "AdminNetworkPolicy": "anp",
    "BaselineAdminNetworkPolicy": "banp",
}


@dataclass(frozen=True, slots=True)
class Node:
    """A Node as the ``nodes`` peers of cluster policies see it: labels and addresses.

    ``addresses``: the IPs of ``status.addresses`` (InternalIP, ExternalIP; host names left out).
    """

    name: str
    labels: Mapping[str, str]
    addresses: tuple[str, ...] = ()
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    namespaces: Mapping[str, Namespace]
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()
    policies: tuple[NetworkPolicyObject, ...] = ()
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)  # unknown kinds, counted
    cluster_policies: tuple[ClusterPolicyObject, ...] = ()  # Admin and Baseline tiers
    nodes: tuple[Node, ...] = ()  # for the ``nodes`` peers of cluster policies
    notes: tuple[str, ...] = ()  # what the snapshot could not represent, in words for people

    def pod(self, key: str) -> Pod | None:
        ns, _, name = key.partition("/")
        for p in self.pods:
            if p.namespace == ns and p.name == name:
                return p
        return None
