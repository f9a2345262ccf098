"""The cluster snapshot: plain, typed, immutable data. No Kubernetes client objects.

Both the YAML loader and live discovery produce these; the policy model, the plan and
the reports consume them. Field docstrings give Kubernetes examples.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NewType

from probe.schema import Protocol

NamespaceName = NewType("NamespaceName", str)
PodName = NewType("PodName", str)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Pods from manifests that carry no IP get one from here, so ipBlock rules see an address
# (verdicts for them are not meaningful, and predict says so). 198.18.0.0/15 is reserved
# for benchmarking (RFC 2544): no CNI uses it for pods, whereas the CGNAT range
# 100.64.0.0/10 is a real pod range on EKS custom networking and under Tailscale.
# Addresses that pods in the input already carry are never handed out.
SYNTHETIC_POD_RANGE = "198.18.0.0/15"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an object came from, for error messages: ``demo/app.yaml, document 3``."""

    source: str  # a file path, or "cluster" / "context <name>"
    document: int | None = None
    # where the object starts in its file (from 1), for SARIF and editors; not part of the
    # identity (two reads of one document are the same origin)
    line: int | None = field(default=None, compare=False)

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
class WorkloadRef:
    """The workload that runs a pod, as a person names it: ``Deployment web``, ``StatefulSet db``.

    From files, the workload object itself; live, the pod's owner chain (Pod ->
    ReplicaSet ``web-5d8f7c9b4`` -> Deployment ``web``, read from ownerReferences and the
    ``pod-template-hash`` label). Always in the pod's own namespace."""

    kind: str  # Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController, ...
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


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
    workload: WorkloadRef | None = None  # the workload that runs it (files: the object; live: owners)
    # One pod standing for all replicas of its workload, named like the workload
    # (``shop/web`` for Deployment ``web``): what ``predict`` shows without ``--replicas``.
    representative: bool = False
    synthetic_ip: bool = False  # ips were made up from SYNTHETIC_POD_RANGE (manifests carry none)

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
class Taint:
    """``{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}`` on a Node."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True, slots=True)
class Node:
    """A Node from the input: where DaemonSet pods run (one per eligible node), and what the
    ``nodes`` peers of cluster policies match (its labels, its addresses)."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...] = ()
    internal_ips: tuple[str, ...] = ()  # status.addresses of type InternalIP: a host-network pod's IPs
    origin: Origin | None = None
    addresses: tuple[str, ...] = ()  # every IP of status.addresses (InternalIP, ExternalIP): nodes peers


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to turn manifests into a snapshot (``predict``'s flags). The defaults read API
    objects as they are, which is what live discovery wants."""

    replicas: bool = False  # every declared replica (--replicas), not one representative per workload
    synthetic_ips: bool = False  # pods without IPs get one from SYNTHETIC_POD_RANGE (files)
    namespace: str | None = None  # for objects without metadata.namespace (-n)
    # asked once, only when an object has no namespace and ``namespace`` is None:
    # () -> (namespace, where it came from), e.g. ("shop", "kubeconfig context dev")
    namespace_fallback: Callable[[], tuple[str, str]] | None = None


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What loading did besides reading objects, for the load summary on stderr.

    Every field says something a user should know about the snapshot they are looking
    at: what was made up (synthetic IPs, implied namespaces, an assumed node), what was
    left out (skipped documents), and where objects without a namespace went."""

    workloads: Mapping[str, int] = field(default_factory=dict)  # kind -> workloads turned into pods
    replicas: bool = False  # workloads expanded to their declared replica counts (--replicas)
    folded_pods: int = 0  # pods in the input owned by a workload in the input (not counted twice)
    folded_workloads: int = 0  # ReplicaSets/Jobs in the input owned by a Deployment/CronJob in the input
    skipped_documents: Mapping[str, int] = field(default_factory=dict)  # non-Kubernetes YAML, by file name
    implied_namespaces: tuple[str, ...] = ()  # referenced by objects, not declared
    defaulted_objects: int = 0  # objects without metadata.namespace
    default_namespace: str | None = None  # ... and where they went
    default_namespace_source: str = ""  # "-n", "kubeconfig context NAME", "default"
    synthetic_ips: int = 0  # pods that got an IP from SYNTHETIC_POD_RANGE
    assumed_nodes: int = 0  # DaemonSets expanded over this many assumed nodes (no Node objects given)


@dataclass(frozen=True, slots=True)
class Snapshot:
    namespaces: Mapping[str, Namespace]
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()
    policies: tuple[NetworkPolicyObject, ...] = ()
    skipped_kinds: Mapping[str, int] = field(default_factory=dict)  # unknown kinds, counted
    nodes: tuple[Node, ...] = ()  # also what the nodes peers of cluster policies match
    load: LoadReport = field(default_factory=LoadReport)
    cluster_policies: tuple[ClusterPolicyObject, ...] = ()  # Admin and Baseline tiers
    notes: tuple[str, ...] = ()  # what the snapshot could not represent, in words for people

    def pod(self, key: str) -> Pod | None:
        ns, _, name = key.partition("/")
        for p in self.pods:
            if p.namespace == ns and p.name == name:
                return p
        return None
