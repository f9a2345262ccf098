"""``suggest``'s rules: peers and ports for one policy, from what its pods must and must not admit.

Peers are whole namespaces where nothing in them must be refused, otherwise workloads by
their own labels (:mod:`orchestrator.audit.selection`); ports are left out where every
port may be allowed, and named where the destinations declare the name.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.audit.context import bits
from orchestrator.audit.planner import INGRESS, Group, Planner, port_name
from orchestrator.audit.selection import select
from orchestrator.audit.sides import PortKey
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL
from probe.schema import Protocol


def namespace_peer(namespaces: Sequence[str]) -> dict[str, Any]:
    if len(namespaces) == 1:
        return {"matchLabels": {NAMESPACE_NAME_LABEL: namespaces[0]}}
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}]}


class RuleWriter:
    """Step 4: rules for one group's policy from its per-peer needs."""

    def __init__(self, planner: Planner) -> None:
        self.p = planner
        self.pods = planner.pods
        self.unreachable: set[int] = set()  # peers no selector can name (host network, twins)

    def peers(self, own_ns: str, wanted: int, avoid: int) -> tuple[list[dict[str, Any]], int, int]:
        """Peers matching every ``wanted`` pod and no ``avoid`` pod; also the pods they match,
        and the wanted pods no selector could name (host network, or labels an avoided pod
        carries too)."""
        pods, sd, spaces = self.pods, self.p.sides, self.p.spaces
        avoid &= ~sd.hostnet  # selectors never match host-network pods anyway
        unnamed = wanted & sd.hostnet
        wanted &= ~sd.hostnet
        if not wanted:
            return [], 0, unnamed
        if not avoid:
            return [{"namespaceSelector": {}}], sd.everyone & ~sd.hostnet, unnamed
        by_ns: dict[str, list[int]] = {}
        for i in bits(wanted):
            by_ns.setdefault(pods[i].namespace, []).append(i)
        whole: list[str] = []
        out: list[dict[str, Any]] = []
        matched = 0
        for ns, idx in sorted(by_ns.items()):
            bad = [pods[i] for i in bits(avoid & spaces.mask.get(ns, 0))]
            if not bad:
                whole.append(ns)
                matched |= spaces.mask.get(ns, 0)
                continue
            choice = select([pods[i] for i in idx], bad)
            for pod in choice.unresolved:
                unnamed |= 1 << self.p.index.index[pod.key]
            for sel in choice.selectors:
                peer: dict[str, Any] = {} if ns == own_ns else {"namespaceSelector": namespace_peer([ns])}
                peer["podSelector"] = sel.to_dict()
                out.append(peer)
                matched |= spaces.selected(ns, sel)
        if whole:
            if whole == [own_ns]:
                out.insert(0, {"podSelector": {}})
            else:
                out.insert(0, {"namespaceSelector": namespace_peer(whole)})
        return out, matched, unnamed

    def port_entry(self, key: PortKey, holders: int) -> dict[str, Any]:
        port, proto = key
        name = port_name(self.pods, holders, port, proto) if holders else None
        entry: dict[str, Any] = {"port": name if name else port}
        if proto is not Protocol.TCP:
            entry["protocol"] = str(proto)
        return entry

    def rules(
        self, group: Group, must: Mapping[PortKey, int], must_not: Mapping[PortKey, int], *, exact: bool = False
    ) -> list[dict[str, Any]]:
        """``must[pp]``/``must_not[pp]``: peers (sources for ingress, destinations for egress).

        A side that is newly isolated keeps what was reachable: peers that must be refused
        nothing get one rule on every port (whole namespaces where possible). With ``exact``
        (only opening cells on sides that were isolated already) the rules admit the needed
        peers on the needed ports and nothing else, whatever the intent leaves open."""
        refused = 0
        for mask in must_not.values():
            refused |= mask
        needed = 0
        for key, mask in must.items():
            needed |= mask & ~must_not.get(key, 0)
        classes: dict[frozenset[PortKey] | None, int] = {}
        if needed & ~refused and not exact:
            classes[None] = needed & ~refused
        for i in bits(needed if exact else needed & refused):  # peers refused on some ports, needed on others
            ports = frozenset(k for k, m in must.items() if m >> i & 1 and not must_not.get(k, 0) >> i & 1)
            classes[ports] = classes.get(ports, 0) | (1 << i)
        word = "from" if group.direction is INGRESS else "to"
        out = []
        for cls, wanted in sorted(classes.items(), key=lambda kv: (kv[0] is not None, sorted(kv[0] or ()))):
            avoid = refused
            if cls is not None:
                avoid = 0
                for key in cls:
                    avoid |= must_not.get(key, 0)
            peers, matched, unnamed = self.peers(group.namespace, wanted, avoid)
            if exact:
                # nobody else, except the replicas of a wanted pod (no selector can leave them
                # out), when selectors can say so; else what must be refused decides alone
                precise = avoid | self.p.sides.everyone & ~wanted & ~self.p.spaces.replicas(wanted)
                tight = self.peers(group.namespace, wanted, precise)
                if tight[2] == unnamed:
                    peers, matched, unnamed = tight
            for i in bits(unnamed):
                self.unreachable.add(i)
            if not peers:
                continue
            rule: dict[str, Any] = {word: peers}
            if cls is not None:
                holders = group.members if group.direction is INGRESS else matched
                rule["ports"] = [self.port_entry(key, self._declaring(holders, key)) for key in sorted(cls)]
            out.append(rule)
        return out

    def _declaring(self, holders: int, key: PortKey) -> int:
        return holders & self.p.sides.ports[key].dests if key in self.p.sides.ports else 0
