"""Cluster DNS as the audit and ``suggest`` see it: who serves it, and whether a pod reaches it.

One definition for both: the audit's ``egress-without-dns`` finding and the DNS rule
``suggest`` adds to every egress policy it writes. Cluster DNS is the kube-system pods
labelled ``k8s-app=kube-dns`` (the label kube-dns and CoreDNS deployments carry, which
the ``kube-dns`` Service selects) on 53/UDP and 53/TCP. When the snapshot holds no such
pod (manifests of one application, or a namespace-scoped discovery), a stand-in with
those labels and ports is asked instead, so the answer comes from the model either way.

Pure: no I/O.
"""

from __future__ import annotations

from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.policy import Direction
from orchestrator.snapshot.types import Container, ContainerPort, NamespaceName, Pod, PodName, Snapshot
from probe.schema import Protocol

DNS_NAMESPACE = "kube-system"
DNS_LABELS = {"k8s-app": "kube-dns"}
DNS_PORTS = ((53, Protocol.UDP), (53, Protocol.TCP))

STAND_IN = Pod(
    NamespaceName(DNS_NAMESPACE),
    PodName("cluster-dns"),
    dict(DNS_LABELS),
    containers=(
        Container(
            "coredns", ports=(ContainerPort(53, Protocol.UDP, "dns"), ContainerPort(53, Protocol.TCP, "dns-tcp"))
        ),
    ),
)


def dns_servers(snapshot: Snapshot) -> list[Pod]:
    """The cluster DNS pods of the snapshot, or the stand-in when it has none."""
    found = [
        p
        for p in snapshot.pods
        if p.namespace == DNS_NAMESPACE and all(p.labels.get(k) == v for k, v in DNS_LABELS.items())
    ]
    return found or [STAND_IN]


def reaches_dns(model: PolicyModel, pod: Pod, servers: list[Pod]) -> bool:
    """Whether ``pod``'s egress lets it query cluster DNS over UDP (what resolvers use first).

    Only the egress side: the DNS pods' own ingress is the DNS operator's business. An
    ipBlock covering every address (``0.0.0.0/0``, ``::/0``) counts even for the stand-in,
    which has no IP."""
    for server in servers:
        if model.side(Direction.EGRESS, pod, server, server, 53, Protocol.UDP).allowed:
            return True
    for policy in model.isolating(pod, Direction.EGRESS):
        for rule in policy.egress:
            ports_ok = rule.ports is None or any(s.matches_number(53, Protocol.UDP) for s in rule.ports)
            if ports_ok and rule.peers and any(p.ip_block and p.ip_block.cidr.prefixlen == 0 for p in rule.peers):
                return True
    return False


def dns_egress_rule() -> dict[str, object]:
    """The egress rule that lets a pod query cluster DNS (NetworkPolicy YAML shape)."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}},
                "podSelector": {"matchLabels": dict(DNS_LABELS)},
            }
        ],
        "ports": [{"protocol": str(proto), "port": port} for port, proto in DNS_PORTS],
    }
