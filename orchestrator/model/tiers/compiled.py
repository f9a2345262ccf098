"""Cluster policies (the Admin and Baseline tiers) compiled once into matchers.

Owns the *declared* side of the tiers, from the canonical spec the snapshot keeps
(:class:`~orchestrator.snapshot.types.ClusterPolicyObject`, already validated as its CRD
validates it): which pods a policy's ``subject`` selects, and each rule's action, peers and
protocols. The order of evaluation lives in :mod:`.walk`.

Peers, as the API documents them:

- ``namespaces``: every pod of the selected namespaces; ``pods``: namespace AND pod selector
  (an omitted namespace selector selects every namespace). Host-network pods are never
  matched by these, nor selected by a ``subject``;
- ``networks``: CIDRs, matched against the peer's IPs, pod IPs included;
- ``nodes``: the addresses of the selected Nodes (``status.addresses``);
- ``domainNames``: names a snapshot cannot resolve: a rule with them may or may not match.

Protocols: ``tcp``/``udp``/``sctp`` with a port number or an inclusive range;
``destinationNamedPort`` resolved on the destination pod's declared container ports (any
protocol the connection uses, as long as the pod declares the name with it).

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.model.policy import Direction, IPBlock
from orchestrator.model.selectors import MATCH_ALL, Selector, compile_selector
from orchestrator.snapshot.types import ClusterPolicyObject, Tier
from probe.schema import Protocol

_PROTOCOLS = {"tcp": Protocol.TCP, "udp": Protocol.UDP, "sctp": Protocol.SCTP}


class Action(enum.StrEnum):
    ACCEPT = "Accept"  # final: allowed (v1alpha1 "Allow")
    DENY = "Deny"  # final: denied
    PASS = "Pass"  # skip the rest of this tier: the next tier decides


class PeerKind(enum.StrEnum):
    NAMESPACES = "namespaces"
    PODS = "pods"
    NETWORKS = "networks"
    NODES = "nodes"
    DOMAIN_NAMES = "domainNames"


@dataclass(frozen=True, slots=True)
class TierPeer:
    """One entry of a rule's ``from``/``to``; which fields are set depends on ``kind``."""

    kind: PeerKind
    namespaces: Selector = MATCH_ALL  # namespaces, pods
    pods: Selector = MATCH_ALL  # pods
    networks: tuple[IPBlock, ...] = ()  # networks
    nodes: Selector = MATCH_ALL  # nodes
    domains: tuple[str, ...] = ()  # domainNames

    def __str__(self) -> str:
        if self.kind is PeerKind.NAMESPACES:
            return f"namespaces {self.namespaces}"
        if self.kind is PeerKind.PODS:
            return f"pods {self.pods} in namespaces {self.namespaces}"
        if self.kind is PeerKind.NETWORKS:
            return "networks " + ", ".join(str(b.cidr) for b in self.networks)
        if self.kind is PeerKind.NODES:
            return f"nodes {self.nodes}"
        return "domainNames " + ", ".join(self.domains)


@dataclass(frozen=True, slots=True)
class TierPort:
    """``tcp: {destinationPort: {number: 80}}`` (start == end), a range, or a named port."""

    protocol: Protocol | None = None  # None: a named port (its protocol is the declared one)
    start: int = 0
    end: int = 0
    name: str | None = None

    def matches_number(self, port: int, protocol: Protocol) -> bool:
        """Numeric match only; named ports are resolved by the caller on the destination pod."""
        return self.name is None and protocol == self.protocol and self.start <= port <= self.end

    def __str__(self) -> str:
        if self.name is not None:
            return f"named port {self.name}"
        ports = str(self.start) if self.start == self.end else f"{self.start}-{self.end}"
        return f"{ports}/{self.protocol}"


@dataclass(frozen=True, slots=True)
class TierRule:
    """One ingress or egress rule; ``ports`` None: every port and protocol."""

    direction: Direction
    index: int
    name: str | None
    action: Action
    peers: tuple[TierPeer, ...]
    ports: tuple[TierPort, ...] | None

    def uncertain_peers(self, nodes_known: bool) -> tuple[str, str]:
        """The peers of this rule a snapshot cannot evaluate: (short name, why), e.g.
        ("domainNames", "its domainNames resolve through DNS at run time"); empty: none."""
        kinds, whys = [], []
        if any(p.kind is PeerKind.DOMAIN_NAMES for p in self.peers):
            kinds.append("domainNames")
            whys.append("its domainNames resolve through DNS at run time")
        if not nodes_known and any(p.kind is PeerKind.NODES for p in self.peers):
            kinds.append("nodes")
            whys.append("its nodes peers need Node objects, and the snapshot has none")
        return " or ".join(kinds), " and ".join(whys)


@dataclass(frozen=True, slots=True)
class CompiledClusterPolicy:
    key: str  # cnp/name, anp/name, banp/default
    kind: str
    api_version: str
    tier: Tier
    priority: int | None  # None: a BaselineAdminNetworkPolicy, after every Baseline-tier policy
    subject_namespaces: Selector
    subject_pods: Selector  # MATCH_ALL for a ``namespaces`` subject
    ingress: tuple[TierRule, ...]
    egress: tuple[TierRule, ...]

    def rules(self, direction: Direction) -> tuple[TierRule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress

    @property
    def rank(self) -> int:
        """Evaluation order inside a tier: lower first; equal ranks are unordered upstream.

        A BaselineAdminNetworkPolicy has no priority: no API orders it against Baseline-tier
        ClusterNetworkPolicies, so it goes last (it is the v1alpha1 "baseline of last resort")."""
        return PRIORITY_NONE if self.priority is None else self.priority

    def word(self, action: Action) -> str:
        """The action as the policy declared it: v1alpha1 says ``Allow`` for ``Accept``."""
        return "Allow" if action is Action.ACCEPT and self.api_version.endswith("/v1alpha1") else str(action)

    @property
    def priority_text(self) -> str:
        return "no priority (evaluated last)" if self.priority is None else f"priority {self.priority}"


PRIORITY_NONE = 1001  # sorts after every 0-1000 priority


def compile_cluster_policy(obj: ClusterPolicyObject) -> CompiledClusterPolicy:
    """Compile the canonical spec of a validated cluster policy (ValueError on a malformed one)."""
    spec = obj.spec
    subject = spec["subject"]
    if "namespaces" in subject:
        ns_sel, pod_sel = compile_selector(subject["namespaces"], "spec.subject.namespaces"), MATCH_ALL
    else:
        ns_sel, pod_sel = _namespaced_pod(subject["pods"], "spec.subject.pods")
    return CompiledClusterPolicy(
        obj.key,
        obj.kind,
        obj.api_version,
        obj.tier,
        obj.priority,
        ns_sel,
        pod_sel,
        tuple(_rule(r, Direction.INGRESS, i) for i, r in enumerate(spec.get("ingress") or ())),
        tuple(_rule(r, Direction.EGRESS, i) for i, r in enumerate(spec.get("egress") or ())),
    )


def _namespaced_pod(raw: Mapping[str, Any], field: str) -> tuple[Selector, Selector]:
    return (
        compile_selector(raw.get("namespaceSelector"), f"{field}.namespaceSelector"),
        compile_selector(raw.get("podSelector"), f"{field}.podSelector"),
    )


def _rule(raw: Mapping[str, Any], direction: Direction, index: int) -> TierRule:
    field = f"spec.{direction}[{index}]"
    peer_key = "from" if direction is Direction.INGRESS else "to"
    peers = tuple(_peer(p, f"{field}.{peer_key}[{j}]") for j, p in enumerate(raw[peer_key]))
    protocols = raw.get("protocols")
    ports = None if protocols is None else tuple(_port(p) for p in protocols)
    return TierRule(direction, index, raw.get("name"), Action(raw["action"]), peers, ports)


def _peer(raw: Mapping[str, Any], field: str) -> TierPeer:
    (kind,) = raw.keys()
    value = raw[kind]
    if kind == "namespaces":
        return TierPeer(PeerKind.NAMESPACES, namespaces=compile_selector(value, f"{field}.namespaces"))
    if kind == "pods":
        ns_sel, pod_sel = _namespaced_pod(value, f"{field}.pods")
        return TierPeer(PeerKind.PODS, namespaces=ns_sel, pods=pod_sel)
    if kind == "networks":
        return TierPeer(
            PeerKind.NETWORKS, networks=tuple(IPBlock(ipaddress.ip_network(c, strict=False)) for c in value)
        )
    if kind == "nodes":
        return TierPeer(PeerKind.NODES, nodes=compile_selector(value, f"{field}.nodes"))
    if kind == "domainNames":
        return TierPeer(PeerKind.DOMAIN_NAMES, domains=tuple(value))
    raise ValueError(f"{field}: unknown peer {kind!r}")


def _port(raw: Mapping[str, Any]) -> TierPort:
    if "destinationNamedPort" in raw:
        return TierPort(name=raw["destinationNamedPort"])
    ((key, match),) = raw.items()
    port = match["destinationPort"]
    if "number" in port:
        return TierPort(_PROTOCOLS[key], port["number"], port["number"])
    return TierPort(_PROTOCOLS[key], port["range"]["start"], port["range"]["end"])
