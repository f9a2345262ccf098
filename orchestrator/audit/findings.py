"""Audit findings: the value type every check returns, severities, and the catalogue of kinds.

A :class:`Finding` is one weakness of the declared policies, with a stable ``id`` (its
kind plus the object and field it is about, so CI can track it across runs), a
``severity``, a one-line ``title``, a plain ``message``, the ``objects`` involved as
``Kind/namespace/name`` (cluster-scoped ``Kind/name``) and, where one exists, a ``fix``
(NetworkPolicy YAML for mechanical fixes, plain words for fixes only a person can make).

:data:`KINDS` describes every kind once; the table, JSON and SARIF renderers and the
docs read it from here.

Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from orchestrator.snapshot.types import Origin


class Severity(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """3 for high down to 0 for info: higher is more severe."""
        return _RANK[self]


_RANK = {Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1, Severity.INFO: 0}


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of finding: what it means in general (the SARIF rule, the docs)."""

    name: str  # e.g. "policy-selects-nothing"
    title: str
    description: str
    severity: Severity  # the usual severity; a finding may be raised or lowered with a reason


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # a key of KINDS
    subject: str  # what it is about, unique within the kind: "NetworkPolicy/shop-data/np ingress[0].from[1]"
    severity: Severity
    title: str
    message: str
    objects: tuple[str, ...]  # Kind/namespace/name, the first is the one to look at first
    fix: str | None = None
    origins: tuple[Origin | None, ...] = field(default=(), compare=False)  # where objects[i] was read

    @property
    def id(self) -> str:
        """Stable across runs while the finding stands: ``kind:subject``."""
        return f"{self.kind}:{self.subject}"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": str(self.severity),
            "title": self.title,
            "message": self.message,
            "objects": list(self.objects),
            "fix": self.fix,
        }


def object_name(kind: str, namespace: str | None, name: str) -> str:
    """``Pod/shop/web-1``; cluster-scoped objects ``Namespace/shop``."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by kind and subject (reproducible output)."""
    return sorted(findings, key=lambda f: (-f.severity.rank, f.kind, f.subject))


def at_or_above(findings: Iterable[Finding], threshold: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.rank >= threshold.rank]


def listing(names: Sequence[str], limit: int = 8) -> str:
    """``a, b, c`` or ``a, b, ... and 12 more``: messages stay readable on big clusters."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


_KINDS = [
    Kind(
        "pods-not-isolated",
        "Pods not isolated by any NetworkPolicy",
        "No NetworkPolicy selects these pods for ingress and/or egress, so every connection in that "
        "direction is allowed. Isolated in neither direction is medium, in one only low.",
        Severity.MEDIUM,
    ),
    Kind(
        "namespace-without-default-deny",
        "Namespace without a default-deny policy",
        "No policy of the namespace selects every pod (podSelector: {}) for this direction: a new pod "
        "whose labels no policy expects starts open.",
        Severity.LOW,
    ),
    Kind(
        "policy-selects-nothing",
        "NetworkPolicy selects no pod",
        "The policy's podSelector matches no pod of its namespace, so it protects nothing. A selector "
        "that almost matches a pod's label is most likely a typo (high): the pods it was written for "
        "are not protected by it.",
        Severity.MEDIUM,
    ),
    Kind(
        "peer-matches-nothing",
        "Rule peer matches nothing",
        "A namespaceSelector matches no namespace, or a podSelector no pod of the selected namespaces: "
        "the peer admits nobody. Dead peers are usually typos.",
        Severity.MEDIUM,
    ),
    Kind(
        "peers-or-instead-of-and",
        "namespaceSelector and podSelector as two peers (OR)",
        "A rule lists a lone namespaceSelector and a lone podSelector as two list items, which admits "
        "the union of both; the author almost always meant one peer with both selectors (AND).",
        Severity.MEDIUM,
    ),
    Kind(
        "rule-redundant",
        "Rule made redundant by a broader rule",
        "Everything this rule admits (peers and ports, on the pods its policy selects) is already "
        "admitted by another rule of the same direction; with the pods that exist now it changes nothing.",
        Severity.LOW,
    ),
    Kind(
        "broad-allow",
        "Overly broad allow",
        "A rule admits every source or destination, every namespace, every address (0.0.0.0/0, ::/0), "
        "or an ipBlock that covers pod IPs (pods are then admitted by address, whatever their labels).",
        Severity.MEDIUM,
    ),
    Kind(
        "egress-without-dns",
        "Egress isolation without cluster DNS",
        "Pods are isolated for egress and no rule allows them to reach cluster DNS (kube-system pods "
        "labelled k8s-app=kube-dns on 53/UDP and 53/TCP): they will fail to resolve names.",
        Severity.MEDIUM,
    ),
    Kind(
        "named-port-unresolved",
        "Named port resolves on no pod",
        "A rule names a port that no pod it applies to declares (for ingress: the selected pods; for "
        "egress: the destinations), so it allows nothing on that port.",
        Severity.MEDIUM,
    ),
    Kind(
        "service-selects-nothing",
        "Service selects no pod",
        "The Service's selector matches no pod of its namespace: connections to it reach nothing.",
        Severity.MEDIUM,
    ),
    Kind(
        "service-target-port-undeclared",
        "Service targetPort declared by no backend",
        "No pod behind the Service declares its targetPort. A named targetPort then has no endpoints "
        "(medium); a numeric one works only if the container listens anyway (low).",
        Severity.LOW,
    ),
    Kind(
        "host-network-pod-selected",
        "NetworkPolicy selects a host-network pod",
        "Policies do not apply to pods on the node's network: the policy's labels match this pod, but "
        "it is not protected by it.",
        Severity.MEDIUM,
    ),
    Kind(
        "intrapod-unenforceable",
        "Intra-pod rules that cannot be enforced",
        "The pod's intra-pod rules cannot be enforced as declared (containers without their own "
        "non-root UID, root, NET_ADMIN) or are invalid.",
        Severity.MEDIUM,
    ),
    Kind(
        "objects-skipped",
        "Objects not audited",
        "Objects of kinds kubereach does not model were skipped; whatever they do is not in the audit.",
        Severity.INFO,
    ),
]
KINDS: dict[str, Kind] = {k.name: k for k in _KINDS}
