"""``kubereach explain``: one connection's verdict in plain words.

Renders a :class:`~orchestrator.model.Verdict` side by side (egress of the source,
ingress of the destination), quoting each deciding rule's peers and ports, and
intra-pod decisions with the rule that matched. A side the cluster policy tiers had a say
in is told step by step in evaluation order (Admin tier, NetworkPolicy, Baseline tier,
the default), with every way it can go when the outcome is undefined or unknown.
Returns strings only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.model.policy import CompiledPolicy, Direction, Rule
from orchestrator.model.tiers import Action, CompiledClusterPolicy, TierRule
from orchestrator.model.verdict import (
    DEFAULT_TIER,
    NP_TIER,
    Decision,
    SideState,
    SideVerdict,
    TierPath,
    TierStep,
    Verdict,
)

_SETTLED_WORD = {Decision.ALLOW: "ALLOWED", Decision.DENY: "DENIED"}
_ACTION_WORDS = {
    Action.ACCEPT: "allowed; no later rule of any tier is consulted for this direction",
    Action.DENY: "denied; no later rule of any tier is consulted",
    Action.PASS: "passed: the rest of this tier is skipped and the next tier decides",
}


@dataclass(frozen=True, slots=True)
class SideTiers:
    """The cluster policies selecting a side's pod with rules in its direction, in order."""

    admin: Sequence[CompiledClusterPolicy] = ()
    baseline: Sequence[CompiledClusterPolicy] = ()


def describe_rule(rule: Rule) -> str:
    peer_word = "from" if rule.direction == "ingress" else "to"
    peers = "anyone" if rule.peers is None else " OR ".join(f"[{p}]" for p in rule.peers)
    ports = "any port" if rule.ports is None else "ports " + " OR ".join(str(p) for p in rule.ports)
    return f"{peer_word} {peers}; {ports}"


def describe_tier_rule(rule: TierRule, action: str | None = None) -> str:
    """``Deny to [namespaces team=red] OR [networks 0.0.0.0/0]; ports 80/TCP``; ``action``: the
    declared word when it differs (v1alpha1 ``Allow``)."""
    peer_word = "from" if rule.direction is Direction.INGRESS else "to"
    peers = " OR ".join(f"[{p}]" for p in rule.peers)
    ports = "any port" if rule.ports is None else "ports " + " OR ".join(str(p) for p in rule.ports)
    name = f" {rule.name!r}" if rule.name else ""  # repr: a name is free text, control characters escaped
    return f"{action or rule.action}{name} {peer_word} {peers}; {ports}"


def _np_side(
    side: SideVerdict, policies: dict[str, CompiledPolicy], peer_role: str, peer_host_network: bool
) -> list[str]:
    """The NetworkPolicy tier's part of a side: its state, then the rules that decided."""
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
    np_allowed = side.state is SideState.ALLOWED
    lines = [head + ("ALLOWED" if np_allowed else "DENIED"), f"  isolated by: {', '.join(side.isolated_by)}"]
    return lines + _np_details(side, policies, peer_role, peer_host_network)


def _np_details(
    side: SideVerdict, policies: dict[str, CompiledPolicy], peer_role: str, peer_host_network: bool
) -> list[str]:
    lines = []
    if side.state is SideState.ALLOWED:
        for ref in side.allowed_by:
            pol = policies.get(ref.policy)
            detail = f": {describe_rule(pol.rules(ref.direction)[ref.index])}" if pol else ""
            lines.append(f"  allowed by {ref} ({ref.field}){detail}")
        return lines
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


def _step_lines(
    step: TierStep,
    side: SideVerdict,
    policies: dict[str, CompiledPolicy],
    cluster: dict[str, CompiledClusterPolicy],
    peer_role: str,
    peer_host_network: bool,
) -> list[str]:
    if step.tier == DEFAULT_TIER:
        return ["no tier decided: allowed (the Kubernetes default)"]
    if step.tier == NP_TIER:
        if side.state is SideState.NOT_ISOLATED:
            return [
                f"NetworkPolicy tier: no NetworkPolicy selects this pod for {side.direction.policy_type}: "
                "it does not decide"
            ]
        verdict = "allowed" if side.state is SideState.ALLOWED else "denied"
        return [f"NetworkPolicy tier: {verdict} (isolated by {', '.join(side.isolated_by)})"] + [
            "  " + ln for ln in _np_details(side, policies, peer_role, peer_host_network)
        ]
    pol = cluster.get(step.policy or "")
    if pol is None or step.rule is None:
        return [f"{step.tier} tier: {step.text}"]
    rule = pol.rules(side.direction)[step.rule]
    lines = [
        f"{step.tier} tier: {pol.key} ({pol.kind} {pol.api_version}, {pol.priority_text}) "
        f"{side.direction} rule {rule.index} matches: {describe_tier_rule(rule, pol.word(rule.action))}",
        f"  -> {_ACTION_WORDS[rule.action]}",
    ]
    if step.maybe:
        lines.append(f"  only if its {step.maybe} match this {peer_role}, which a snapshot cannot tell")
    return lines


def _path_lines(
    path: TierPath,
    side: SideVerdict,
    policies: dict[str, CompiledPolicy],
    cluster: dict[str, CompiledClusterPolicy],
    peer_role: str,
    peer_host_network: bool,
) -> list[str]:
    lines: list[str] = []
    for i, step in enumerate(path.steps, 1):
        for k, ln in enumerate(_step_lines(step, side, policies, cluster, peer_role, peer_host_network)):
            lines.append(f"{i}. {ln}" if k == 0 else f"   {ln}")
    return lines


def _tier_side(
    side: SideVerdict,
    policies: dict[str, CompiledPolicy],
    cluster: dict[str, CompiledClusterPolicy],
    selected: SideTiers,
    peer_role: str,
    peer_host_network: bool,
) -> list[str]:
    assert side.tiers is not None
    result = side.tiers
    word = _SETTLED_WORD.get(result.decision, result.decision.upper())
    lines = [
        f"{side.direction} of {side.pod}: {word} - decided in tier order "
        "(Admin tier -> NetworkPolicy -> Baseline tier -> allowed)"
    ]
    for tier, pols in (("Admin", selected.admin), ("Baseline", selected.baseline)):
        if pols:
            listed = ", ".join(f"{p.key} ({p.priority_text})" for p in pols)
            lines.append(f"  {tier} policies selecting this pod for {side.direction}: {listed}")
    if result.decision.settled:
        steps = _path_lines(result.paths[0], side, policies, cluster, peer_role, peer_host_network)
        return lines + ["  " + ln for ln in steps]
    if result.decision is Decision.UNDEFINED:
        for tie in result.ties:
            lines.append(f"  {tie}: the API lets the implementation apply either, so either outcome is possible")
    else:
        for maybe in result.maybes:
            lines.append(f"  {maybe}: whether it matches cannot be evaluated from a snapshot")
    for n, path in enumerate(result.paths, 1):
        lines.append(f"  way {n}: {path.decision.upper()}")
        lines += ["    " + ln for ln in _path_lines(path, side, policies, cluster, peer_role, peer_host_network)]
    return lines


def render_explanation(
    verdict: Verdict,
    policies: tuple[CompiledPolicy, ...],
    port_name: str | None = None,
    host_network: frozenset[str] = frozenset(),
    *,
    tiers: Mapping[Direction, SideTiers] | None = None,
) -> str:
    """``port_name``: the destination's port name, when the user gave the port by name;
    ``host_network``: which of the two pods (namespace/pod) use the node's network;
    ``tiers``: per direction, the cluster policies selecting that side's pod."""
    by_key = {p.key: p for p in policies}
    selected = tiers or {}
    cluster = {p.key: p for side in selected.values() for p in (*side.admin, *side.baseline)}
    port = f"{verdict.port}/{verdict.protocol}" + (f" ({port_name})" if port_name else "")
    head = f"{verdict.source} -> {verdict.destination} on {port}: {verdict.decision.upper()}"
    if verdict.same_pod:
        return f"{head}\n  {verdict.reason}\n"
    lines = [head, "  both sides must allow: the source's egress and the destination's ingress"]
    if not verdict.decision.settled:
        lines.append(
            "  undefined: the policies leave the outcome to the implementation"
            if verdict.decision is Decision.UNDEFINED
            else "  unknown: the outcome depends on what manifests cannot show"
        )
    for side, role, peer in (
        (verdict.egress, "destination", verdict.destination),
        (verdict.ingress, "source", verdict.source),
    ):
        if side.tiers is not None:
            chosen = selected.get(side.direction, SideTiers())
            body = _tier_side(side, by_key, cluster, chosen, role, peer in host_network)
        else:
            body = _np_side(side, by_key, role, peer in host_network)
        lines += ["  " + ln for ln in body]
    return "\n".join(lines) + "\n"
