"""Breadth: allows that admit everyone, every namespace or every address, ipBlocks that
cover pod IPs, and rules another rule already covers.

What a rule admits comes from the model's bitsets over the pods that exist now (plus
the ipBlocks for addresses outside the cluster); a redundant rule is one whose pods,
peers and ports are all inside another rule's of the same direction.

Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.audit.context import AuditContext, describe_mask, field_of, peer_word
from orchestrator.audit.findings import Finding, Severity
from orchestrator.model.policy import CompiledPolicy, Direction, IPBlock, PortSpec, Rule


def _sources(direction: Direction) -> str:
    return "source" if direction is Direction.INGRESS else "destination"


def broad_allow(ctx: AuditContext) -> Iterator[Finding]:
    for pi, pol in enumerate(ctx.policies):
        if not ctx.selected(pi):
            continue
        name = ctx.policy_name(pol)
        for direction in (Direction.INGRESS, Direction.EGRESS):
            for rule in pol.rules(direction):
                where = field_of(rule)
                ports = "any port" if rule.ports is None else "ports " + ", ".join(map(str, rule.ports))
                # restricting the ports makes a broad peer a deliberate service (a public web port): lower
                severity = Severity.MEDIUM if rule.ports is None else Severity.LOW
                if rule.peers is None:
                    yield Finding(
                        "broad-allow",
                        f"{name} {where}",
                        severity,
                        f"{pol.key} {where} admits every {_sources(direction)}",
                        f"{where} has no '{peer_word(direction)}': it admits every {_sources(direction)}, every pod "
                        f"of every namespace and every address outside the cluster, on {ports}.",
                        (name,),
                        f"List the {_sources(direction)}s that need it in '{peer_word(direction)}'.",
                    )
                    continue
                for j, peer in enumerate(rule.peers):
                    at = f"{where}.{peer_word(direction)}[{j}]"
                    if peer.ip_block is not None:
                        yield from _ip_block(ctx, pol, name, at, peer.ip_block, direction, ports, severity)
                    elif peer.namespace_selector is not None and peer.namespace_selector.matches_all:
                        everything = peer.pod_selector is None or peer.pod_selector.matches_all
                        pods = "every pod" if everything else f"pods with {peer.pod_selector}"
                        yield Finding(
                            "broad-allow",
                            f"{name} {at}",
                            severity if everything else Severity.LOW,
                            f"{pol.key} {at} admits {pods} of every namespace",
                            f"namespaceSelector {{}} matches every namespace, so {at} admits {pods} in all of them "
                            f"({describe_mask(ctx, ctx.builder.peer_mask(peer, pol.namespace))} today, and every "
                            f"one created later), on {ports}.",
                            (name,),
                            "Select the namespaces that need it (e.g. by kubernetes.io/metadata.name).",
                        )


def _ip_block(
    ctx: AuditContext,
    pol: CompiledPolicy,
    name: str,
    at: str,
    block: IPBlock,
    direction: Direction,
    ports: str,
    severity: Severity,
) -> Iterator[Finding]:
    covered = ctx.builder.ip_block_mask(block)
    if block.cidr.prefixlen == 0:
        yield Finding(
            "broad-allow",
            f"{name} {at}",
            severity,
            f"{pol.key} {at} admits every address ({block.cidr})",
            f"{block} admits every {'IPv4' if block.cidr.version == 4 else 'IPv6'} address on {ports}, "
            f"including every pod's (an ipBlock matches pod IPs too: {describe_mask(ctx, covered)} today).",
            (name,),
            "Narrow the CIDR to the addresses that need it, and use selectors for pods.",
        )
    elif covered:
        yield Finding(
            "broad-allow",
            f"{name} {at}",
            Severity.MEDIUM,
            f"{pol.key} {at}: {block.cidr} covers pod IPs",
            f"{block} covers the IPs of {describe_mask(ctx, covered)}: they are admitted by address, whatever "
            "their labels, and pod IPs move when pods restart.",
            (name,),
            f"Except the pod network from the ipBlock and admit those {_sources(direction)}s with selectors.",
        )


# -- redundancy -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reach:
    """What one rule admits: on which pods, from/to which pods and addresses, on which ports."""

    policy_index: int
    rule: Rule
    selected: int
    peers: int  # pods its peers match
    everyone: bool  # no peers: every pod and address
    blocks: tuple[IPBlock, ...]


def _block_covers(big: IPBlock, small: IPBlock) -> bool:
    if not _subnet(small.cidr, big.cidr):
        return False
    for hole in big.excepts:  # every address big leaves out must be left out by small too
        if _overlap(hole, small.cidr) and not any(_subnet(hole, s) for s in small.excepts):
            return False
    return True


def _subnet(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network, of: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    if isinstance(net, ipaddress.IPv4Network) and isinstance(of, ipaddress.IPv4Network):
        return net.subnet_of(of)
    if isinstance(net, ipaddress.IPv6Network) and isinstance(of, ipaddress.IPv6Network):
        return net.subnet_of(of)
    return False


def _overlap(
    a: ipaddress.IPv4Network | ipaddress.IPv6Network, b: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    return a.version == b.version and (_subnet(a, b) or _subnet(b, a))


def _port_covers(big: PortSpec, small: PortSpec) -> bool:
    if big.protocol != small.protocol:
        return False
    if big.port is None:
        return True
    if isinstance(small.port, str) or isinstance(big.port, str):
        return small.port == big.port
    if small.port is None:
        return False
    lo, hi = small.port, small.end_port or small.port
    return big.port <= lo and hi <= (big.end_port or big.port)


def _covers(big: _Reach, small: _Reach) -> bool:
    if small.selected & ~big.selected:
        return False
    if not big.everyone:
        if small.everyone or small.peers & ~big.peers:
            return False
        if not all(any(_block_covers(b, s) for b in big.blocks) for s in small.blocks):
            return False
    if big.rule.ports is None:
        return True
    if small.rule.ports is None:
        return False
    return all(any(_port_covers(b, s) for b in big.rule.ports) for s in small.rule.ports)


def rule_redundant(ctx: AuditContext) -> Iterator[Finding]:
    groups: dict[tuple[str, Direction], list[_Reach]] = {}
    for pi, pol in enumerate(ctx.policies):
        selected = ctx.selected(pi)
        if not selected:
            continue
        for direction in (Direction.INGRESS, Direction.EGRESS):
            for rule in pol.rules(direction):
                reach = _Reach(
                    pi,
                    rule,
                    selected,
                    ctx.rule_peers(pi, rule) & ~ctx.hostnet if rule.peers is not None else 0,
                    rule.peers is None,
                    tuple(p.ip_block for p in rule.peers or () if p.ip_block is not None),
                )
                groups.setdefault((pol.namespace, direction), []).append(reach)
    for reaches in groups.values():
        for i, small in enumerate(reaches):
            if not (small.everyone or small.peers or small.blocks):
                continue  # admits nobody: peer-matches-nothing says why
            for k, big in enumerate(reaches):
                if k == i or not _covers(big, small):
                    continue
                if k > i and _covers(small, big):
                    continue  # identical reach: report the later one of the two only
                pol, other = ctx.policies[small.policy_index], ctx.policies[big.policy_index]
                name = ctx.policy_name(pol)
                where = field_of(small.rule)
                yield Finding(
                    "rule-redundant",
                    f"{name} {where}",
                    Severity.LOW,
                    f"{pol.key} {where} is covered by {other.key} {field_of(big.rule)}",
                    f"Everything {pol.key} {where} admits (on {describe_mask(ctx, small.selected)}) is already "
                    f"admitted by {other.key} {field_of(big.rule)}, with the pods that exist now: removing it "
                    "changes no connection. A redundant rule often hides that one of the two was meant to be "
                    "narrower.",
                    (name, ctx.policy_name(other)) if other.key != pol.key else (name,),
                    "Remove the narrower rule, or narrow the broader one if that was the intent.",
                )
                break


CHECKS = (broad_allow, rule_redundant)
