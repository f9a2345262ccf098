"""The policy model: NetworkPolicy v1 semantics for one connection at a time.

:class:`PolicyModel` compiles every policy of a snapshot once and answers
``evaluate(src, dst, port, protocol)`` with a :class:`Verdict` that names the
policies isolating each side and every rule allowing it. The fast all-pairs
matrix lives in :mod:`orchestrator.model.matrix` and must agree with this module
(a test checks that on random clusters).

Spec, step by step (Kubernetes NetworkPolicy v1):
1. a connection between two pods is allowed only if the source's egress *and* the
   destination's ingress both allow it; a pod reaching itself is always allowed;
2. a side is isolated only if some policy selecting that pod (its podSelector, in the
   policy's namespace) has that policyType; host-network pods are never selected;
3. an isolated side allows the connection if any rule of those policies, in that
   direction, matches both a peer (OR of peers; selectors inside one peer AND-ed)
   and a port (OR of ports; named ports resolved on the destination pod).

Policies are kept sorted by ``namespace/name``, so the rule a reason names first
(and every list of policies) does not depend on the order manifests were read in.

Cluster policy tiers wrap step 2-3 per side: the Admin tier before, the Baseline tier after
(:mod:`orchestrator.model.tiers.walk` owns that order); a side no cluster policy has a say
in is exactly the NetworkPolicy side above, worded the same.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from orchestrator.model.policy import CompiledPolicy, Direction, Peer, PortSpec, Rule, compile_policy
from orchestrator.model.tiers.compiled import (
    CompiledClusterPolicy,
    PeerKind,
    TierPeer,
    TierPort,
    TierRule,
    compile_cluster_policy,
)
from orchestrator.model.tiers.walk import Match, SidePlan, priority_groups, walk
from orchestrator.model.verdict import (
    SAME_POD_REASON,
    Decision,
    RuleRef,
    SideState,
    SideVerdict,
    Verdict,
    combine,
    join_reason,
    no_ip_note,
)
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL, Pod, Snapshot, Tier
from probe.schema import Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ips(ips: Sequence[str]) -> tuple[IPAddress, ...]:
    out = []
    for ip in ips:
        try:
            out.append(ipaddress.ip_address(ip.split("%", 1)[0]))
        except ValueError:
            continue
    return tuple(out)


class PolicyModel:
    """Every NetworkPolicy of a snapshot, compiled once; evaluate connections against them."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        # sorted by namespace/name: verdicts and reasons (which rule is named first) must not
        # depend on the order the manifests were read or the policies were created in
        self.policies: tuple[CompiledPolicy, ...] = tuple(
            compile_policy(p.namespace, p.name, p.spec)
            for p in sorted(snapshot.policies, key=lambda p: (p.namespace, p.name))
        )
        self._ns_labels: dict[str, Mapping[str, str]] = {n: ns.labels for n, ns in snapshot.namespaces.items()}
        self._ips: dict[str, tuple[IPAddress, ...]] = {}
        self._pods = {p.key: p for p in snapshot.pods}
        # the Admin and Baseline tiers, in evaluation order (tier, priority, name)
        self.cluster_policies: tuple[CompiledClusterPolicy, ...] = tuple(
            sorted(
                (compile_cluster_policy(c) for c in snapshot.cluster_policies),
                key=lambda p: (p.tier is Tier.BASELINE, p.rank, p.key),
            )
        )
        self.nodes_known = bool(snapshot.nodes)
        self.node_addresses = [(n.labels, frozenset(parse_ips(n.addresses))) for n in snapshot.nodes]
        self._tier_policies: dict[tuple[str, Direction], tuple[list[CompiledClusterPolicy], ...]] = {}

    # -- lookups -------------------------------------------------------------------
    def pod(self, key: str) -> Pod:
        try:
            return self._pods[key]
        except KeyError:
            raise KeyError(f"no pod {key!r} in the snapshot") from None

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """Labels of a namespace; one without a Namespace object has only the implied name label."""
        labels = self._ns_labels.get(namespace)
        return labels if labels is not None else {NAMESPACE_NAME_LABEL: namespace}

    def pod_ips(self, pod: Pod) -> tuple[IPAddress, ...]:
        ips = self._ips.get(pod.key)
        if ips is None:
            ips = self._ips[pod.key] = parse_ips(pod.ips)
        return ips

    def selects(self, policy: CompiledPolicy, pod: Pod) -> bool:
        """Step 2: the policy's podSelector, in its own namespace; host-network pods are exempt."""
        return not pod.host_network and pod.namespace == policy.namespace and policy.pod_selector.matches(pod.labels)

    def isolating(self, pod: Pod, direction: Direction) -> list[CompiledPolicy]:
        return [p for p in self.policies if p.isolates(direction) and self.selects(p, pod)]

    def peer_matches(self, peer: Peer, policy_namespace: str, pod: Pod) -> bool:
        """Step 3, peers: ipBlock by pod IP; otherwise namespace AND pod selector."""
        if peer.ip_block is not None:
            return any(peer.ip_block.contains(ip) for ip in self.pod_ips(pod))
        if pod.host_network:
            return False
        if peer.namespace_selector is None:
            if pod.namespace != policy_namespace:
                return False
        elif not peer.namespace_selector.matches(self.namespace_labels(pod.namespace)):
            return False
        return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)

    @staticmethod
    def port_matches(spec: PortSpec, dst: Pod, port: int, protocol: Protocol) -> bool:
        """Step 3, ports: a named port is resolved on the destination pod's serving containers."""
        if isinstance(spec.port, str):
            if protocol != spec.protocol:
                return False
            return any(
                cp.name == spec.port and cp.protocol == spec.protocol and cp.port == port
                for c in dst.serving_containers
                for cp in c.ports
            )
        return spec.matches_number(port, protocol)

    def rule_matches(
        self, rule: Rule, policy: CompiledPolicy, peer: Pod, dst: Pod, port: int, protocol: Protocol
    ) -> bool:
        if rule.ports is not None and not any(self.port_matches(s, dst, port, protocol) for s in rule.ports):
            return False
        return rule.peers is None or any(self.peer_matches(p, policy.namespace, peer) for p in rule.peers)

    # -- cluster policy tiers ----------------------------------------------------------
    def tier_selects(self, policy: CompiledClusterPolicy, pod: Pod) -> bool:
        """A cluster policy's ``subject``: namespace AND pod selector; never a host-network pod."""
        return (
            not pod.host_network
            and policy.subject_namespaces.matches(self.namespace_labels(pod.namespace))
            and policy.subject_pods.matches(pod.labels)
        )

    def tier_policies(self, pod: Pod, direction: Direction) -> tuple[list[CompiledClusterPolicy], ...]:
        """(Admin, Baseline) policies selecting ``pod`` with rules in ``direction``, in order."""
        key = (pod.key, direction)
        found = self._tier_policies.get(key)
        if found is None:
            found = ([], [])
            for pol in self.cluster_policies:
                if pol.rules(direction) and self.tier_selects(pol, pod):
                    found[pol.tier is Tier.BASELINE].append(pol)
            self._tier_policies[key] = found
        return found

    def tier_plan(self, pod: Pod, direction: Direction, np_isolated: bool) -> SidePlan:
        admin, baseline = self.tier_policies(pod, direction)
        return SidePlan(direction, priority_groups(admin), np_isolated, priority_groups(baseline), self.nodes_known)

    def tier_peer_matches(self, peer: TierPeer, pod: Pod) -> Match:
        """Whether a cluster policy peer matches the pod at the other end of the connection."""
        if peer.kind is PeerKind.NAMESPACES or peer.kind is PeerKind.PODS:
            ok = (
                not pod.host_network
                and peer.namespaces.matches(self.namespace_labels(pod.namespace))
                and peer.pods.matches(pod.labels)
            )
            return Match.YES if ok else Match.NO
        return self.tier_address_matches(peer, self.pod_ips(pod), host_network=pod.host_network)

    def tier_address_matches(self, peer: TierPeer, ips: Sequence[IPAddress], *, host_network: bool = True) -> Match:
        """``networks``, ``nodes`` and ``domainNames`` peers against the far end's addresses.

        ``nodes`` without Node objects: a host-network pod (or a bare address) may be a node,
        a pod with its own network namespace never is. ``domainNames``: any address may be
        one a name resolves to; a snapshot has no DNS."""
        if not ips:
            return Match.NO
        if peer.kind is PeerKind.NETWORKS:
            return Match.YES if any(b.contains(ip) for b in peer.networks for ip in ips) else Match.NO
        if peer.kind is PeerKind.NODES:
            if not self.nodes_known:
                return Match.MAYBE if host_network else Match.NO
            hit = any(peer.nodes.matches(labels) and not addrs.isdisjoint(ips) for labels, addrs in self.node_addresses)
            return Match.YES if hit else Match.NO
        if peer.kind is PeerKind.DOMAIN_NAMES:
            return Match.MAYBE
        return Match.NO  # namespaces/pods never match a bare address

    @staticmethod
    def tier_port_matches(spec: TierPort, dst: Pod | None, port: int, protocol: Protocol) -> bool:
        """Numbers and ranges; a named port on the destination pod's declared ports (none on an address)."""
        if spec.name is None:
            return spec.matches_number(port, protocol)
        return dst is not None and any(
            cp.name == spec.name and cp.protocol == protocol and cp.port == port
            for c in dst.serving_containers
            for cp in c.ports
        )

    def tier_rule_matches(self, rule: TierRule, peer: Pod, dst: Pod, port: int, protocol: Protocol) -> Match:
        if rule.ports is not None and not any(self.tier_port_matches(s, dst, port, protocol) for s in rule.ports):
            return Match.NO
        best = Match.NO
        for p in rule.peers:
            m = self.tier_peer_matches(p, peer)
            if m is Match.YES:
                return m
            if m is Match.MAYBE:
                best = m
        return best

    def _with_tiers(
        self, np: SideVerdict, pod: Pod, match: Callable[[CompiledClusterPolicy, TierRule], Match]
    ) -> SideVerdict:
        """The NetworkPolicy side ``np`` of ``pod`` inside the tiers (unchanged if they have no say)."""
        plan = self.tier_plan(pod, np.direction, np.isolated)
        if not plan.has_tiers:
            return np
        result = walk(plan, match, lambda: (np.decision, np.np_text))
        return np if result is None else replace(np, tiers=result)

    # -- evaluation ------------------------------------------------------------------
    def side(self, direction: Direction, pod: Pod, peer: Pod, dst: Pod, port: int, protocol: Protocol) -> SideVerdict:
        """One direction: ``pod`` is the one whose policies apply, ``peer`` the other end."""
        np = self._np_side(direction, pod, peer, dst, port, protocol)
        if np.state is SideState.HOST_NETWORK or not self.cluster_policies:
            return np
        return self._with_tiers(np, pod, lambda _pol, rule: self.tier_rule_matches(rule, peer, dst, port, protocol))

    def _np_side(
        self, direction: Direction, pod: Pod, peer: Pod, dst: Pod, port: int, protocol: Protocol
    ) -> SideVerdict:
        """Steps 2-3: the NetworkPolicy tier alone."""
        if pod.host_network:
            return SideVerdict(direction, pod.key, SideState.HOST_NETWORK)
        isolating = self.isolating(pod, direction)
        if not isolating:
            return SideVerdict(direction, pod.key, SideState.NOT_ISOLATED)
        allowed = tuple(
            RuleRef(p.key, direction, r.index)
            for p in isolating
            for r in p.rules(direction)
            if self.rule_matches(r, p, peer, dst, port, protocol)
        )
        names = tuple(p.key for p in isolating)
        if allowed:
            return SideVerdict(direction, pod.key, SideState.ALLOWED, names, allowed)
        note = ""
        if not self.pod_ips(peer) and any(r.has_ip_block for p in isolating for r in p.rules(direction)):
            note = no_ip_note("destination" if direction is Direction.EGRESS else "source")
        return SideVerdict(direction, pod.key, SideState.DENIED, names, (), note)

    def evaluate(self, src: Pod, dst: Pod, port: int, protocol: Protocol = Protocol.TCP) -> Verdict:
        """Step 1: egress of ``src`` AND ingress of ``dst``; the same pod always reaches itself."""
        protocol = Protocol(protocol)
        egress = self.side(Direction.EGRESS, src, dst, dst, port, protocol)
        ingress = self.side(Direction.INGRESS, dst, src, dst, port, protocol)
        if src.key == dst.key:  # hairpin by its own IP: not subject to any policy, of any tier
            return Verdict(
                src.key, dst.key, port, protocol, Decision.ALLOW, egress, ingress, SAME_POD_REASON, same_pod=True
            )
        decision = combine(egress.decision, ingress.decision)
        return Verdict(
            src.key, dst.key, port, protocol, decision, egress, ingress, join_reason(egress.text, ingress.text)
        )

    def resolve_port(self, dst: Pod, name: str, protocol: Protocol = Protocol.TCP) -> int:
        """The number of a named container port of ``dst``; ValueError if it declares none."""
        for c in dst.serving_containers:
            for cp in c.ports:
                if cp.name == name and cp.protocol == protocol:
                    return cp.port
        raise ValueError(f"pod {dst.key} declares no {protocol} port named {name!r}")

    def evaluate_named(self, src: Pod, dst: Pod, port_name: str, protocol: Protocol = Protocol.TCP) -> Verdict:
        """Like :meth:`evaluate` for a port given by its name on the destination pod."""
        return self.evaluate(src, dst, self.resolve_port(dst, port_name, protocol), protocol)

    def evaluate_to_ip(self, src: Pod, ip: str, port: int, protocol: Protocol = Protocol.TCP) -> SideVerdict:
        """Egress of ``src`` to an address that is not a pod (only ipBlock peers, or no peers, match;
        of cluster policies, ``networks``, ``nodes`` and ``domainNames`` peers).

        The far end's ingress is outside the model, so this returns the egress side only.
        """
        protocol = Protocol(protocol)
        addr = ipaddress.ip_address(ip)
        np = self._np_to_ip(src, addr, port, protocol)
        if np.state is SideState.HOST_NETWORK or not self.cluster_policies:
            return np

        def match(_pol: CompiledClusterPolicy, rule: TierRule) -> Match:
            if rule.ports is not None and not any(self.tier_port_matches(s, None, port, protocol) for s in rule.ports):
                return Match.NO
            found = [self.tier_address_matches(p, (addr,)) for p in rule.peers]
            return Match.YES if Match.YES in found else (Match.MAYBE if Match.MAYBE in found else Match.NO)

        return self._with_tiers(np, src, match)

    def _np_to_ip(self, src: Pod, addr: IPAddress, port: int, protocol: Protocol) -> SideVerdict:
        if src.host_network:
            return SideVerdict(Direction.EGRESS, src.key, SideState.HOST_NETWORK)
        isolating = self.isolating(src, Direction.EGRESS)
        if not isolating:
            return SideVerdict(Direction.EGRESS, src.key, SideState.NOT_ISOLATED)
        allowed = []
        for p in isolating:
            for r in p.egress:
                if r.ports is not None and not any(
                    not isinstance(s.port, str) and s.matches_number(port, protocol) for s in r.ports
                ):
                    continue
                if r.peers is None or any(pe.ip_block is not None and pe.ip_block.contains(addr) for pe in r.peers):
                    allowed.append(RuleRef(p.key, Direction.EGRESS, r.index))
        names = tuple(p.key for p in isolating)
        state = SideState.ALLOWED if allowed else SideState.DENIED
        return SideVerdict(Direction.EGRESS, src.key, state, names, tuple(allowed))
