"""``kubereach explain``: one connection's verdict in plain words.

Renders a :class:`~orchestrator.model.Verdict` side by side (egress of the source,
ingress of the destination), quoting each deciding rule's peers and ports, and
intra-pod decisions with the rule that matched. Returns strings only.
"""

from __future__ import annotations

from orchestrator.model.policy import CompiledPolicy, Rule
from orchestrator.model.verdict import SideState, SideVerdict, Verdict


def describe_rule(rule: Rule) -> str:
    peer_word = "from" if rule.direction == "ingress" else "to"
    peers = "anyone" if rule.peers is None else " OR ".join(f"[{p}]" for p in rule.peers)
    ports = "any port" if rule.ports is None else "ports " + " OR ".join(str(p) for p in rule.ports)
    return f"{peer_word} {peers}; {ports}"


def _side(side: SideVerdict, policies: dict[str, CompiledPolicy], peer_role: str, peer_host_network: bool) -> list[str]:
    head = f"{side.direction} of {side.pod}: "
    if side.state is SideState.HOST_NETWORK:
        return [
            head + "ALLOWED - a host-network pod uses the node's network and is not subject to "
            "NetworkPolicy (its traffic comes from the node IP)"
        ]
    if side.state is SideState.NOT_ISOLATED:
        return [
            head + f"ALLOWED - not isolated: no NetworkPolicy selecting this pod has policyType "
            f"{side.direction.policy_type}, so every {peer_role} is allowed"
        ]
    lines = [head + ("ALLOWED" if side.allowed else "DENIED"), f"  isolated by: {', '.join(side.isolated_by)}"]
    if side.allowed:
        for ref in side.allowed_by:
            pol = policies.get(ref.policy)
            detail = f": {describe_rule(pol.rules(ref.direction)[ref.index])}" if pol else ""
            lines.append(f"  allowed by {ref} ({ref.field}){detail}")
    else:
        lines.append(f"  no {side.direction} rule of these policies matches this {peer_role} and port")
        for name in side.isolated_by:
            pol = policies.get(name)
            if pol is None:
                continue
            rules = pol.rules(side.direction)
            if not rules:
                lines.append(f"    {name}: no {side.direction} rules (it isolates the pod and allows nothing)")
            for r in rules:
                lines.append(f"    {name} {side.direction} rule {r.index}: {describe_rule(r)}")
        if side.note:
            lines.append(f"  note: {side.note}")
        if peer_host_network:
            lines.append(
                f"  note: the {peer_role} is a host-network pod: pod and namespace selectors never match "
                "it, only an ipBlock covering its IP (the node's) can"
            )
    return lines


def render_explanation(
    verdict: Verdict,
    policies: tuple[CompiledPolicy, ...],
    port_name: str | None = None,
    host_network: frozenset[str] = frozenset(),
) -> str:
    """``port_name``: the destination's port name, when the user gave the port by name;
    ``host_network``: which of the two pods (namespace/pod) use the node's network."""
    by_key = {p.key: p for p in policies}
    port = f"{verdict.port}/{verdict.protocol}" + (f" ({port_name})" if port_name else "")
    head = f"{verdict.source} -> {verdict.destination} on {port}: {verdict.decision.upper()}"
    if verdict.same_pod:
        return f"{head}\n  {verdict.reason}\n"
    lines = [head, "  both sides must allow: the source's egress and the destination's ingress"]
    lines += ["  " + ln for ln in _side(verdict.egress, by_key, "destination", verdict.destination in host_network)]
    lines += ["  " + ln for ln in _side(verdict.ingress, by_key, "source", verdict.source in host_network)]
    return "\n".join(lines) + "\n"
