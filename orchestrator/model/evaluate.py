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

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from orchestrator.model.policy import CompiledPolicy, Direction, Peer, PortSpec, Rule, compile_policy
from orchestrator.model.verdict import (
    SAME_POD_REASON,
    Decision,
    RuleRef,
    SideState,
    SideVerdict,
    Verdict,
    join_reason,
    no_ip_note,
)
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL, Pod, Snapshot
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

    # -- evaluation ------------------------------------------------------------------
    def side(self, direction: Direction, pod: Pod, peer: Pod, dst: Pod, port: int, protocol: Protocol) -> SideVerdict:
        """One direction: ``pod`` is the one whose policies apply, ``peer`` the other end."""
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
        if src.key == dst.key:
            return Verdict(
                src.key, dst.key, port, protocol, Decision.ALLOW, egress, ingress, SAME_POD_REASON, same_pod=True
            )
        decision = Decision.ALLOW if egress.allowed and ingress.allowed else Decision.DENY
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
        """Egress of ``src`` to an address that is not a pod (only ipBlock peers, or no peers, match).

        The far end's ingress is outside the model, so this returns the egress side only.
        """
        protocol = Protocol(protocol)
        addr = ipaddress.ip_address(ip)
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
