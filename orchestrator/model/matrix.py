"""The expected matrix: every (source, destination, port, protocol) of a snapshot at once.

Evaluating millions of pairs one by one repeats the same selector matches over and
over, so this module precomputes instead (same semantics as
:class:`~orchestrator.model.evaluate.PolicyModel`, same reason wording; a test
checks row-for-row equality on random clusters):

1. pods are numbered; every pod set is a Python int used as a bitset;
2. each policy's selected pods, each rule peer's matching pods and each named port's
   declaring pods become bitsets, memoised per distinct selector / peer;
3. per (policy set of a source, port): the destinations its egress rules reach, as
   a "first rule that matches" code per destination; per (policy set of a
   destination, port): the same for ingress sources. Pods with the same policy set
   share these;
4. rows are assembled from those codes with C-level iteration (zip/map), and the
   reason text is memoised per (egress code, ingress code) class.

Rows come out port by port, then source, then destination.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import gc
from itertools import repeat
from operator import add, itemgetter
from typing import Sequence

from orchestrator.model.evaluate import PolicyModel, parse_ips
from orchestrator.model.policy import Direction, IPBlock, Peer, Rule
from orchestrator.model.selectors import Selector
from orchestrator.model.verdict import (SAME_POD_REASON, Decision, ExpectedRow, RuleRef, SideState, join_reason,
                                        no_ip_note, side_text)
from orchestrator.snapshot.types import Snapshot
from probe.schema import Protocol

PortList = Sequence[tuple[int, Protocol]]



class _Row(ExpectedRow):
    """An ExpectedRow built straight from a 6-tuple at C speed (the matrix makes millions).

    Same fields, equality, ``_asdict``/``_replace`` and repr as :class:`ExpectedRow`;
    only the constructor differs (one iterable, like ``tuple``), so it stays private.
    """

    __slots__ = ()
    __new__ = tuple.__new__

    def __getnewargs__(self) -> tuple:
        return (tuple(self),)

    def __repr__(self) -> str:
        return ExpectedRow.__repr__(self).replace("_Row(", "ExpectedRow(", 1)


_make_row = _Row
# side codes (16 bits): 0 not isolated, 1 isolated and denied, 1+k allowed by entry k
_NOT_ISOLATED, _DENIED = 0, 1
_MAX_ENTRIES = 0xFFFF - 2
# side ids (16 bits) per port: at most two sides per pod and direction, so ~16k pods
_MAX_SIDES = 0xFFFF


def _bits(mask: int) -> list[int]:
    text = bin(mask)[:1:-1]
    out, i = [], text.find("1")
    while i >= 0:
        out.append(i)
        i = text.find("1", i + 1)
    return out


class _Side:
    """One direction of one policy set at one port: who is allowed, and by which rule first.

    ``masks[k]`` is the pods that entry ``k`` (rule ``refs[k]``) allows; the first entry
    that allows a pod is the one the reason names (policy order, then rule order).
    """

    __slots__ = ("state", "isolated_by", "refs", "has_ip_block", "masks", "direction")

    def __init__(self, direction: Direction, state: SideState, isolated_by: tuple[str, ...] = (),
                 refs: tuple[RuleRef, ...] = (), has_ip_block: bool = False, masks: tuple[int, ...] = ()) -> None:
        self.direction, self.state, self.isolated_by = direction, state, isolated_by
        self.refs, self.has_ip_block, self.masks = refs, has_ip_block, masks

    def describe(self, code: int, peer_has_ip: bool) -> tuple[bool, str]:
        if self.state is not SideState.DENIED:   # host-network or not isolated
            return True, side_text(self.direction, self.state, (), None)
        if code > _DENIED:
            return True, side_text(self.direction, SideState.ALLOWED, self.isolated_by, self.refs[code - 2])
        note = ""
        if not peer_has_ip and self.has_ip_block:
            note = no_ip_note("destination" if self.direction is Direction.EGRESS else "source")
        return False, side_text(self.direction, SideState.DENIED, self.isolated_by, None, note)

    def lanes(self, n: int, base: int, width: int) -> int:
        """One ``width``-byte lane per pod (little-endian big int) holding ``base + code``."""
        ones = (1 << n) - 1
        if self.state is not SideState.DENIED:
            return base * _spread(ones, n, width)                 # code 0: not isolated
        acc = (base + _DENIED) * _spread(ones, n, width)          # isolated: denied ...
        remaining = ones
        for k, mask in enumerate(self.masks, 1):
            hit = mask & remaining
            if hit:
                acc += k * _spread(hit, n, width)                 # ... unless entry k allows: 1 + k
                remaining &= ~hit
                if not remaining:
                    break
        return acc


class _Packer:
    """Per-port registry that turns (egress side, code, ingress side, code) into one int per row.

    A side id is a side plus whether its own pod has an IP (the other side's reason may
    say "the source has no pod IP"). Row key: ``(egress sid << 16 | code) << 32 |
    (ingress sid << 16 | code)``; egress lanes are stored pre-shifted, so the key of a
    row is one addition, and the reason and decision are memoised per key.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.ids: dict[tuple[int, bool], int] = {}
        self.table: list[tuple[_Side, bool]] = []   # also keeps sides alive, so id() stays unique
        self.lanes: dict[int, memoryview] = {}
        self.texts: dict[tuple[int, int, bool], tuple[bool, str]] = {}
        packer = self

        class Decisions(dict):
            def __missing__(self, key: int) -> Decision:
                packer.reasons[key]          # computes and stores both
                return self[key]

        self.decisions = Decisions()

        class Reasons(dict):
            def __missing__(self, key: int) -> str:
                eg, ing = key >> 32, key & 0xFFFFFFFF
                eg_ok, eg_text = packer.describe(eg, ing >> 16)
                in_ok, in_text = packer.describe(ing, eg >> 16)
                packer.decisions[key] = Decision.ALLOW if eg_ok and in_ok else Decision.DENY
                out = self[key] = join_reason(eg_text, in_text)
                return out

        self.reasons = Reasons()

    def side_id(self, side: _Side, has_ip: bool) -> int:
        k = (id(side), has_ip)
        sid = self.ids.get(k)
        if sid is None:
            sid = self.ids[k] = len(self.table)
            if sid > _MAX_SIDES:
                raise ValueError(f"more than {_MAX_SIDES} distinct policy sides at one port: too large to pack")
            self.table.append((side, has_ip))
        return sid

    def egress_lanes(self, sid: int) -> memoryview:
        view = self.lanes.get(sid)
        if view is None:
            acc = self.table[sid][0].lanes(self.n, sid << 16, 8) << 32
            view = self.lanes[sid] = memoryview(acc.to_bytes(8 * self.n, "little")).cast("Q")
        return view

    def ingress_lanes(self, sid: int) -> memoryview:
        view = self.lanes.get(sid)
        if view is None:
            acc = self.table[sid][0].lanes(self.n, sid << 16, 4)
            view = self.lanes[sid] = memoryview(acc.to_bytes(4 * self.n, "little")).cast("I")
        return view

    def describe(self, packed: int, peer_sid: int) -> tuple[bool, str]:
        sid, code = packed >> 16, packed & 0xFFFF
        k = (sid, code, self.table[peer_sid][1])
        out = self.texts.get(k)
        if out is None:
            out = self.texts[k] = self.table[sid][0].describe(code, k[2])
        return out


class MatrixBuilder:
    """Bitset index of one snapshot; :meth:`rows` gives the expected matrix."""

    def __init__(self, model: PolicyModel) -> None:
        self.model = model
        pods = self.pods = model.snapshot.pods
        n = self.n = len(pods)
        self.all = (1 << n) - 1
        self.keys = [p.key for p in pods]
        self.has_ip = [bool(parse_ips(p.ips)) for p in pods]
        self.hostnet = sum(1 << i for i, p in enumerate(pods) if p.host_network)
        self.ns_pods: dict[str, int] = {}
        classes: dict[frozenset, list] = {}
        self.named: dict[tuple[str, Protocol, int], int] = {}
        for i, p in enumerate(pods):
            bit = 1 << i
            self.ns_pods[p.namespace] = self.ns_pods.get(p.namespace, 0) | bit
            entry = classes.setdefault(frozenset(p.labels.items()), [p.labels, 0])
            entry[1] |= bit
            for c in p.containers:
                for cp in c.ports:
                    if cp.name:
                        k = (cp.name, cp.protocol, cp.port)
                        self.named[k] = self.named.get(k, 0) | bit
        self.label_classes = list(classes.values())
        self.namespaces = sorted(set(model.snapshot.namespaces) | set(self.ns_pods))
        self._sel: dict[Selector, int] = {}
        self._ns_sel: dict[Selector, int] = {}
        self._peer: dict[tuple[Peer, str], int] = {}
        self._rule_peers: dict[tuple[int, Direction, int], int] = {}
        self._rule_ports: dict[tuple[int, Direction, int, int], int] = {}
        self._ip_ints = [tuple((ip.version, int(ip)) for ip in parse_ips(p.ips)) for p in pods]
        self._blocks: dict[IPBlock, int] = {}
        self.policies = model.policies
        self.selected = [self.ns_pods.get(pol.namespace, 0) & self.selector_mask(pol.pod_selector)
                         for pol in self.policies]
        self.isolating: dict[Direction, list[tuple[int, ...]]] = {}
        for direction in Direction:
            per_pod: list[list[int]] = [[] for _ in range(n)]
            for pi, pol in enumerate(self.policies):
                if pol.isolates(direction):
                    for i in _bits(self.selected[pi]):
                        per_pod[i].append(pi)
            self.isolating[direction] = [tuple(x) for x in per_pod]

    # -- bitsets --------------------------------------------------------------------
    def selector_mask(self, sel: Selector) -> int:
        """Pods (never host-network ones) whose labels match, in any namespace."""
        mask = self._sel.get(sel)
        if mask is None:
            mask = 0
            for labels, cmask in self.label_classes:
                if sel.matches(labels):
                    mask |= cmask
            mask = self._sel[sel] = mask & ~self.hostnet
        return mask

    def ns_selector_mask(self, sel: Selector) -> int:
        mask = self._ns_sel.get(sel)
        if mask is None:
            mask = 0
            for ns in self.namespaces:
                if sel.matches(self.model.namespace_labels(ns)):
                    mask |= self.ns_pods.get(ns, 0)
            self._ns_sel[sel] = mask
        return mask

    def peer_mask(self, peer: Peer, namespace: str) -> int:
        key = (peer, namespace)
        mask = self._peer.get(key)
        if mask is None:
            if peer.ip_block is not None:
                mask = self.ip_block_mask(peer.ip_block)
            else:
                ns_mask = (self.ns_pods.get(namespace, 0) if peer.namespace_selector is None
                           else self.ns_selector_mask(peer.namespace_selector))
                pod_mask = self.all if peer.pod_selector is None else self.selector_mask(peer.pod_selector)
                mask = ns_mask & pod_mask & ~self.hostnet
            self._peer[key] = mask
        return mask

    def ip_block_mask(self, block: IPBlock) -> int:
        """Pods with an IP inside the block and outside its excepts (integer range compares)."""
        mask = self._blocks.get(block)
        if mask is None:
            v = block.cidr.version
            lo, hi = int(block.cidr.network_address), int(block.cidr.broadcast_address)
            holes = [(int(e.network_address), int(e.broadcast_address)) for e in block.excepts]
            mask = 0
            for i, ips in enumerate(self._ip_ints):
                for ver, x in ips:
                    if ver == v and lo <= x <= hi and not any(a <= x <= b for a, b in holes):
                        mask |= 1 << i
                        break
            self._blocks[block] = mask
        return mask

    def rule_peer_mask(self, pi: int, rule: Rule) -> int:
        key = (pi, rule.direction, rule.index)
        mask = self._rule_peers.get(key)
        if mask is None:
            if rule.peers is None:
                mask = self.all
            else:
                ns = self.policies[pi].namespace
                mask = 0
                for peer in rule.peers:
                    mask |= self.peer_mask(peer, ns)
            self._rule_peers[key] = mask
        return mask

    def rule_port_mask(self, pi: int, rule: Rule, port: int, protocol: Protocol) -> int:
        """Destinations on which the rule's ports match ``port/protocol`` (named ports per pod)."""
        key = (pi, rule.direction, rule.index, port, protocol)
        mask = self._rule_ports.get(key)
        if mask is None:
            if rule.ports is None:
                mask = self.all
            else:
                mask = 0
                for spec in rule.ports:
                    if isinstance(spec.port, str):
                        if spec.protocol == protocol:
                            mask |= self.named.get((spec.port, protocol, port), 0)
                    elif spec.matches_number(port, protocol):
                        mask = self.all
                        break
            self._rule_ports[key] = mask
        return mask

    def _isolated_side(self, direction: Direction, pols: tuple[int, ...],
                       entries: list[tuple[RuleRef, int]]) -> _Side:
        if len(entries) > _MAX_ENTRIES:
            raise ValueError(f"more than {_MAX_ENTRIES} {direction} rules select one pod")
        names = tuple(self.policies[i].key for i in pols)
        has_block = any(r.has_ip_block for i in pols for r in self.policies[i].rules(direction))
        return _Side(direction, SideState.DENIED, names, tuple(ref for ref, _ in entries), has_block,
                     tuple(mask for _, mask in entries))

    # -- rows ------------------------------------------------------------------------
    def rows(self, ports: PortList | None = None) -> list[ExpectedRow]:
        n, pods, keys = self.n, self.pods, self.keys
        if ports is None:
            per_port: dict[tuple[int, Protocol], list[int]] = {}
            for i, p in enumerate(pods):
                for pp in sorted({(cp.port, cp.protocol) for c in p.containers for cp in c.ports}):
                    per_port.setdefault(pp, []).append(i)
            plan = [(port, proto, dests) for (port, proto), dests in sorted(per_port.items())]
        else:
            plan = [(int(port), Protocol(proto), list(range(n))) for port, proto in dict.fromkeys(ports)]
        host_eg = _Side(Direction.EGRESS, SideState.HOST_NETWORK)
        host_in = _Side(Direction.INGRESS, SideState.HOST_NETWORK)
        free_eg = _Side(Direction.EGRESS, SideState.NOT_ISOLATED)
        free_in = _Side(Direction.INGRESS, SideState.NOT_ISOLATED)
        rows: list[ExpectedRow] = []
        eg_pols, in_pols = self.isolating[Direction.EGRESS], self.isolating[Direction.INGRESS]
        gc_was_enabled = gc.isenabled()
        gc.disable()    # millions of tuples and no cycles: generational GC passes would only cost time
        try:
            for port, proto, dests in plan:
                pack = _Packer(n)
                side_id, get_reason, get_decision = pack.side_id, pack.reasons.__getitem__, pack.decisions.__getitem__
                # egress side per source (shared by sources with the same isolating policy set)
                eg_cache: dict[tuple[int, ...], _Side] = {}
                eg_sides = []
                for i in range(n):
                    if pods[i].host_network:
                        eg_sides.append(host_eg)
                        continue
                    pols = eg_pols[i]
                    side = eg_cache.get(pols)
                    if side is None:
                        if not pols:
                            side = free_eg
                        else:
                            entries = [(RuleRef(self.policies[pi].key, Direction.EGRESS, r.index),
                                        self.rule_peer_mask(pi, r) & self.rule_port_mask(pi, r, port, proto))
                                       for pi in pols for r in self.policies[pi].egress]
                            side = self._isolated_side(Direction.EGRESS, pols, entries)
                        eg_cache[pols] = side
                    eg_sides.append(side)
                # ingress side per destination (policy set + which rules' ports match on it)
                in_cache: dict[tuple, _Side] = {}
                in_sides = []
                for d in dests:
                    if pods[d].host_network:
                        in_sides.append(host_in)
                        continue
                    pols = in_pols[d]
                    if not pols:
                        in_sides.append(free_in)
                        continue
                    bit = 1 << d
                    matching = tuple((pi, r) for pi in pols for r in self.policies[pi].ingress
                                     if self.rule_port_mask(pi, r, port, proto) & bit)
                    ck = (pols, tuple((pi, r.index) for pi, r in matching))
                    side = in_cache.get(ck)
                    if side is None:
                        entries = [(RuleRef(self.policies[pi].key, Direction.INGRESS, r.index),
                                    self.rule_peer_mask(pi, r)) for pi, r in matching]
                        side = in_cache[ck] = self._isolated_side(Direction.INGRESS, pols, entries)
                    in_sides.append(side)
                in_by_src = list(zip(*[pack.ingress_lanes(side_id(side, self.has_ip[d]))
                                       for side, d in zip(in_sides, dests)]))   # [source][dest position]
                dkeys = [keys[d] for d in dests]
                pick = itemgetter(*dests) if len(dests) > 1 else (lambda seq, _d=dests[0]: (seq[_d],))
                position = {d: j for j, d in enumerate(dests)}
                all_dests = len(dests) == n
                for s in range(n):
                    codes = pack.egress_lanes(side_id(eg_sides[s], self.has_ip[s]))
                    if not all_dests:
                        codes = pick(codes)
                    ckeys = list(map(add, codes, in_by_src[s]))
                    start = len(rows)
                    rows.extend(map(_make_row, zip(repeat(keys[s]), dkeys, repeat(port), repeat(proto),
                                                   map(get_decision, ckeys), map(get_reason, ckeys))))
                    j = position.get(s)
                    if j is not None:
                        rows[start + j] = ExpectedRow(keys[s], keys[s], port, proto, Decision.ALLOW, SAME_POD_REASON)
                del in_by_src
        finally:
            if gc_was_enabled:
                gc.enable()
        return rows


def _spread(mask: int, n: int, width: int) -> int:
    """Bit i of ``mask`` -> value 1 in byte lane i (``width`` bytes each, little-endian),
    so adding multiples of spreads writes a code into every lane at C speed."""
    text = bin(mask)[:1:-1].ljust(n, "0").encode()
    return int.from_bytes(text.replace(b"0", b"\x00" * width).replace(b"1", b"\x01" + b"\x00" * (width - 1)),
                          "little")


def expected_matrix(snapshot: Snapshot, ports: PortList | None = None, *,
                    model: PolicyModel | None = None) -> list[ExpectedRow]:
    """Expected verdict of every (source pod, destination pod, port, protocol).

    ``ports`` None: each destination on its own declared container ports; otherwise
    exactly those ``(port, protocol)`` pairs for every destination, declared or not.
    """
    if not snapshot.pods:
        return []
    return MatrixBuilder(model or PolicyModel(snapshot)).rows(ports)
