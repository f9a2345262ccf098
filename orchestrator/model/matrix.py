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
   A side the cluster policy tiers select gets its codes from
   :class:`~orchestrator.model.tiers.fast.TierClasses` instead: peers split into classes that
   every rule (Admin, NetworkPolicy, Baseline) treats alike, each decided once by the same
   walk the pairwise evaluator uses;
4. a (egress side, code, ingress side, code) combination is a *class*: it alone
   fixes the decision and the reason. Class numbers are dense
   (``egress index * ingress count + ingress index``), so a whole row of the matrix
   is one big-int addition of the source's egress lanes and the destinations'
   ingress lanes, done in C; the result is an :class:`ExpectedMatrix` holding one
   machine word per cell, and the reason text of a class is built (once) only when
   a row of that class is read.

Rows come out port by port, then source, then destination.

Pure: must not import kubernetes, aiohttp, scapy, pandas, yaml or anything doing I/O.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Sequence as SequenceABC
from functools import partial
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from orchestrator.model.evaluate import PolicyModel, parse_ips
from orchestrator.model.policy import Direction, IPBlock, Peer, Rule
from orchestrator.model.selectors import Selector
from orchestrator.model.tiers.compiled import PeerKind, TierRule
from orchestrator.model.tiers.fast import TierClasses, TierEntry
from orchestrator.model.tiers.walk import SidePlan, priority_groups
from orchestrator.model.verdict import (
    SAME_POD_REASON,
    Decision,
    ExpectedRow,
    RuleRef,
    SideState,
    combine,
    join_reason,
    no_ip_note,
    side_text,
)
from orchestrator.snapshot.types import Snapshot, Tier
from probe.schema import Protocol

PortList = Sequence[tuple[int, Protocol]]


class _Row(ExpectedRow):
    """An ExpectedRow built straight from a 6-tuple at C speed (the matrix makes millions).

    Same fields, equality, ``_asdict``/``_replace`` and repr as :class:`ExpectedRow`;
    only the constructor differs (one iterable, like ``tuple``), so it stays private.
    """

    __slots__ = ()
    if TYPE_CHECKING:  # the assignment below, as mypy should see it: one iterable, not ExpectedRow's fields

        def __new__(cls, fields: Iterable[object] = (), /) -> Self: ...
    else:
        __new__ = tuple.__new__

    def __getnewargs__(self) -> tuple[tuple[object, ...]]:
        return (tuple(self),)

    def __repr__(self) -> str:
        return ExpectedRow.__repr__(self).replace("_Row(", "ExpectedRow(", 1)


# skips type.__call__ and the __new__ slot lookup: ~1/3 cheaper per row
_make_row: Callable[[Iterable[object]], ExpectedRow] = partial(tuple.__new__, _Row)
# side codes: 0 not isolated, 1 isolated and denied, 1+k allowed by entry k
_NOT_ISOLATED, _DENIED = 0, 1


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

    def __init__(
        self,
        direction: Direction,
        state: SideState,
        isolated_by: tuple[str, ...] = (),
        refs: tuple[RuleRef, ...] = (),
        has_ip_block: bool = False,
        masks: tuple[int, ...] = (),
    ) -> None:
        self.direction, self.state, self.isolated_by = direction, state, isolated_by
        self.refs, self.has_ip_block, self.masks = refs, has_ip_block, masks

    def describe(self, code: int, peer_has_ip: bool) -> tuple[Decision, str]:
        if self.state is not SideState.DENIED:  # host-network or not isolated
            return Decision.ALLOW, side_text(self.direction, self.state, (), None)
        if code > _DENIED:
            return Decision.ALLOW, side_text(self.direction, SideState.ALLOWED, self.isolated_by, self.refs[code - 2])
        note = ""
        if not peer_has_ip and self.has_ip_block:
            note = no_ip_note("destination" if self.direction is Direction.EGRESS else "source")
        return Decision.DENY, side_text(self.direction, SideState.DENIED, self.isolated_by, None, note)

    @property
    def codes(self) -> int:
        """How many codes this side can produce (0 and 1, then one per entry)."""
        return 2 + len(self.masks)

    def lanes(self, n: int, m: int, base: int, width: int, compress: Callable[[int], int]) -> int:
        """One ``width``-byte lane per destination position (little-endian big int): ``base + code``.

        ``n`` pods; ``compress`` maps an n-pod bitset to the ``m`` positions of the lanes."""
        ones = (1 << m) - 1
        if self.state is not SideState.DENIED:
            return base * _spread(ones, m, width)  # code 0: not isolated
        acc = (base + _DENIED) * _spread(ones, m, width)  # isolated: denied ...
        remaining = (1 << n) - 1
        for k, mask in enumerate(self.masks, 1):
            hit = mask & remaining
            if hit:
                acc += k * _spread(compress(hit), m, width)  # ... unless entry k allows: 1 + k
                remaining &= ~hit
                if not remaining:
                    break
        return acc


class _TierSide:
    """A side the cluster policy tiers select: one code per outcome class of peers."""

    __slots__ = ("classes",)

    def __init__(self, classes: TierClasses) -> None:
        self.classes = classes

    @property
    def codes(self) -> int:
        return len(self.classes.code_masks)

    def describe(self, code: int, peer_has_ip: bool) -> tuple[Decision, str]:
        return self.classes.describe(code, peer_has_ip)

    def lanes(self, n: int, m: int, base: int, width: int, compress: Callable[[int], int]) -> int:
        """As :meth:`_Side.lanes`; the code masks partition the pods, so each lane gets one code."""
        acc = 0
        for code, mask in enumerate(self.classes.code_masks):
            hit = compress(mask)
            if hit:
                acc += (base + code) * _spread(hit, m, width)
        return acc


AnySide = _Side | _TierSide


class _Classes:
    """The classes of one port: decode a class number into its decision and reason (memoised).

    A side id is a side plus whether its own pod has an IP (the other side's reason may
    say "the source has no pod IP"). Side ``sid`` owns the dense indices
    ``base[sid] .. base[sid] + side.codes - 1`` of its direction; a class is
    ``egress index * in_count + ingress index``; ``same`` (one past the last) is
    the same-pod class.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[bool, int, bool], int] = {}
        self.eg: list[tuple[AnySide, bool]] = []  # also keeps sides alive, so id() stays unique
        self.ing: list[tuple[AnySide, bool]] = []
        self.eg_base: list[int] = []
        self.in_base: list[int] = []
        self.eg_count = self.in_count = self.same = 0
        self._eg_of: list[int] = []  # dense index -> side id
        self._in_of: list[int] = []
        self._texts: dict[tuple[int, int, int, bool], tuple[Decision, str]] = {}
        self._joined: dict[tuple[tuple[Decision, str], tuple[Decision, str]], tuple[Decision, str]] = {}
        classes = self

        class Decisions(dict[int, Decision]):
            def __missing__(self, key: int) -> Decision:
                classes.reasons[key]  # computes and stores both
                return self[key]

        class Reasons(dict[int, str]):
            def __missing__(self, key: int) -> str:
                decision, reason = classes.decode(key)
                classes.decisions[key] = decision
                self[key] = reason
                return reason

        self.decisions: dict[int, Decision] = Decisions()
        self.reasons: dict[int, str] = Reasons()

    def side_id(self, egress: bool, side: AnySide, has_ip: bool) -> int:
        table, base = (self.eg, self.eg_base) if egress else (self.ing, self.in_base)
        k = (egress, id(side), has_ip)
        sid = self.ids.get(k)
        if sid is None:
            sid = self.ids[k] = len(table)
            table.append((side, has_ip))
            base.append(base[-1] + table[-2][0].codes if sid else 0)
        return sid

    def close(self) -> None:
        """All sides known: fix the class space."""
        self.eg_count = self.eg_base[-1] + self.eg[-1][0].codes if self.eg else 0
        self.in_count = self.in_base[-1] + self.ing[-1][0].codes if self.ing else 0
        self.same = self.eg_count * self.in_count
        self._eg_of = [sid for sid, (side, _) in enumerate(self.eg) for _ in range(side.codes)]
        self._in_of = [sid for sid, (side, _) in enumerate(self.ing) for _ in range(side.codes)]

    def decode(self, key: int) -> tuple[Decision, str]:
        if key == self.same:
            return Decision.ALLOW, SAME_POD_REASON
        eg_idx, in_idx = divmod(key, self.in_count)
        eg_sid, in_sid = self._eg_of[eg_idx], self._in_of[in_idx]
        eg = self._describe(0, eg_sid, eg_idx - self.eg_base[eg_sid], self.ing[in_sid][1])
        ing = self._describe(1, in_sid, in_idx - self.in_base[in_sid], self.eg[eg_sid][1])
        out = self._joined.get((eg, ing))
        if out is None:  # many classes say the same thing: share one string (renderers memoise on it)
            out = self._joined[(eg, ing)] = (
                combine(eg[0], ing[0]),
                join_reason(eg[1], ing[1]),
            )
        return out

    def _describe(self, ingress: int, sid: int, code: int, peer_has_ip: bool) -> tuple[Decision, str]:
        k = (ingress, sid, code, peer_has_ip)
        out = self._texts.get(k)
        if out is None:
            out = self._texts[k] = (self.ing if ingress else self.eg)[sid][0].describe(code, peer_has_ip)
        return out


class _PortBlock:
    """One (port, protocol) of the matrix: a class number per (source, destination position)."""

    __slots__ = ("port", "protocol", "dests", "dest_keys", "cells", "classes", "width")

    def __init__(
        self,
        port: int,
        protocol: Protocol,
        dests: list[int],
        dest_keys: list[str],
        cells: array[int],
        classes: _Classes,
    ) -> None:
        self.port, self.protocol, self.dests, self.dest_keys = port, protocol, dests, dest_keys
        self.cells, self.classes, self.width = cells, classes, len(dests)

    def row(self, s: int) -> array[int]:
        """Class numbers of source ``s`` (snapshot index) towards each destination, in order."""
        w = self.width
        return self.cells[s * w : (s + 1) * w]


class ExpectedMatrix(SequenceABC[ExpectedRow]):
    """The expected matrix as a read-only sequence of :class:`ExpectedRow` (built on access).

    Holds one machine word per row, so a 12M-row matrix takes tens of MB instead of
    gigabytes; the reason string of each class is built once and shared. Order: port
    by port, then source (snapshot order), then destination. Equal to any sequence
    holding the same rows in the same order (``matrix == list(matrix)``).

    Renderers that want to skip row objects altogether use :attr:`sources` and
    :meth:`blocks`: per block ``port``, ``protocol``, ``dest_keys``, ``width`` (number
    of destinations), ``row(s)`` (class numbers of source index ``s``) and
    :meth:`decision` / :meth:`reason` of a class (``block.classes.decisions`` and
    ``.reasons`` are the memo dicts behind them, for ``map``).
    """

    __slots__ = ("sources", "_blocks", "_starts", "_len")

    def __init__(self, sources: Sequence[str], blocks: Sequence[_PortBlock]) -> None:
        self.sources = list(sources)
        self._blocks = list(blocks)
        self._starts, total = [], 0
        for b in self._blocks:
            self._starts.append(total)
            total += len(self.sources) * b.width
        self._len = total

    def blocks(self) -> list[_PortBlock]:
        return list(self._blocks)

    @staticmethod
    def decision(block: _PortBlock, cls: int) -> Decision:
        return block.classes.decisions[cls]

    @staticmethod
    def reason(block: _PortBlock, cls: int) -> str:
        return block.classes.reasons[cls]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[ExpectedRow]:
        return chain.from_iterable(self._source_rows())  # C-level chaining: no Python frame per row

    def _source_rows(self) -> Iterator[Iterator[ExpectedRow]]:
        for b in self._blocks:
            dkeys, port, proto = b.dest_keys, b.port, b.protocol
            dec, rea = b.classes.decisions.__getitem__, b.classes.reasons.__getitem__
            for s, src in enumerate(self.sources):
                row = b.row(s).tolist()  # one int object per cell, shared by both lookups
                yield map(_make_row, zip(repeat(src), dkeys, repeat(port), repeat(proto), map(dec, row), map(rea, row)))

    def _row_at(self, i: int) -> ExpectedRow:
        k = bisect_right(self._starts, i) - 1
        b = self._blocks[k]
        s, j = divmod(i - self._starts[k], b.width)
        cls = b.cells[s * b.width + j]
        return _make_row(
            (self.sources[s], b.dest_keys[j], b.port, b.protocol, b.classes.decisions[cls], b.classes.reasons[cls])
        )

    @overload
    def __getitem__(self, i: int) -> ExpectedRow: ...
    @overload
    def __getitem__(self, i: slice) -> list[ExpectedRow]: ...

    def __getitem__(self, i: int | slice) -> ExpectedRow | list[ExpectedRow]:
        if isinstance(i, slice):
            return [self._row_at(k) for k in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("ExpectedMatrix index out of range")
        return self._row_at(i)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (ExpectedMatrix, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=False))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        ports = ", ".join(f"{b.port}/{b.protocol}" for b in self._blocks)
        return f"<ExpectedMatrix {self._len} rows: {len(self.sources)} sources; ports {ports or '-'}>"


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
        classes: dict[frozenset[tuple[str, str]], list[Any]] = {}  # labels -> [labels, mask]
        self.named: dict[tuple[str, Protocol, int], int] = {}
        for i, p in enumerate(pods):
            bit = 1 << i
            self.ns_pods[p.namespace] = self.ns_pods.get(p.namespace, 0) | bit
            entry = classes.setdefault(frozenset(p.labels.items()), [p.labels, 0])
            entry[1] |= bit
            for c in p.serving_containers:
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
        self._rule_ports: dict[tuple[int, Direction, int, int, Protocol], int] = {}
        self._ip_ints = [tuple((ip.version, int(ip)) for ip in parse_ips(p.ips)) for p in pods]
        self._blocks: dict[IPBlock, int] = {}
        self.policies = model.policies
        self.selected = [
            self.ns_pods.get(pol.namespace, 0) & self.selector_mask(pol.pod_selector) for pol in self.policies
        ]
        self.isolating: dict[Direction, list[tuple[int, ...]]] = {}
        for direction in Direction:
            per_pod: list[list[int]] = [[] for _ in range(n)]
            for pi, pol in enumerate(self.policies):
                if pol.isolates(direction):
                    for i in _bits(self.selected[pi]):
                        per_pod[i].append(pi)
            self.isolating[direction] = [tuple(x) for x in per_pod]
        self._init_tiers()

    def _init_tiers(self) -> None:
        """Per pod and direction, the (Admin, Baseline) cluster policies selecting it."""
        n = self.n
        self.tier_pols = self.model.cluster_policies
        self.with_ip = sum(1 << i for i, ok in enumerate(self.has_ip) if ok)
        self._tier_peers: dict[tuple[int, Direction, int], tuple[int, int]] = {}
        self._tier_ports: dict[tuple[int, Direction, int, int, Protocol], int] = {}
        self._tier_plans: dict[tuple[Direction, tuple[int, ...], tuple[int, ...], bool], SidePlan] = {}
        self._nodes = [(labels, {(a.version, int(a)) for a in addrs}) for labels, addrs in self.model.node_addresses]
        self.tiers: dict[Direction, list[tuple[tuple[int, ...], tuple[int, ...]]]] = {}
        for direction in Direction:
            admin: list[list[int]] = [[] for _ in range(n)]
            baseline: list[list[int]] = [[] for _ in range(n)]
            for ci, pol in enumerate(self.tier_pols):
                if pol.rules(direction):
                    chosen = baseline if pol.tier is Tier.BASELINE else admin
                    selected = self.ns_selector_mask(pol.subject_namespaces) & self.selector_mask(pol.subject_pods)
                    for i in _bits(selected):
                        chosen[i].append(ci)
            self.tiers[direction] = [(tuple(a), tuple(b)) for a, b in zip(admin, baseline, strict=True)]

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
                ns_mask = (
                    self.ns_pods.get(namespace, 0)
                    if peer.namespace_selector is None
                    else self.ns_selector_mask(peer.namespace_selector)
                )
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

    # -- cluster policy tiers --------------------------------------------------------
    def tier_peer_masks(self, ci: int, rule: TierRule) -> tuple[int, int]:
        """(sure, maybe): the pods a cluster policy rule's peers match, and may match."""
        key = (ci, rule.direction, rule.index)
        found = self._tier_peers.get(key)
        if found is None:
            sure = maybe = 0
            for peer in rule.peers:
                if peer.kind is PeerKind.NAMESPACES or peer.kind is PeerKind.PODS:
                    sure |= self.ns_selector_mask(peer.namespaces) & self.selector_mask(peer.pods)
                elif peer.kind is PeerKind.NETWORKS:
                    for block in peer.networks:
                        sure |= self.ip_block_mask(block)
                elif peer.kind is PeerKind.NODES:
                    if self.model.nodes_known:
                        sure |= self.node_mask(peer.nodes)
                    else:  # a host-network pod may be a node; a pod with its own IP never is
                        maybe |= self.hostnet & self.with_ip
                else:  # domainNames: any pod with an address may be what a name resolves to
                    maybe |= self.with_ip
            found = self._tier_peers[key] = (sure, maybe & ~sure)
        return found

    def node_mask(self, sel: Selector) -> int:
        """Pods with an IP among the addresses of the Nodes ``sel`` selects."""
        addrs: set[tuple[int, int]] = set()
        for labels, node_addrs in self._nodes:
            if sel.matches(labels):
                addrs |= node_addrs
        return sum(1 << i for i, ips in enumerate(self._ip_ints) if not addrs.isdisjoint(ips))

    def tier_port_mask(self, ci: int, rule: TierRule, port: int, protocol: Protocol) -> int:
        """Destinations on which the rule's protocols match ``port/protocol`` (named ports per pod)."""
        key = (ci, rule.direction, rule.index, port, protocol)
        mask = self._tier_ports.get(key)
        if mask is None:
            if rule.ports is None:
                mask = self.all
            else:
                mask = 0
                for spec in rule.ports:
                    if spec.name is not None:
                        mask |= self.named.get((spec.name, protocol, port), 0)
                    elif spec.matches_number(port, protocol):
                        mask = self.all
                        break
            self._tier_ports[key] = mask
        return mask

    def tier_plan(self, direction: Direction, admin: tuple[int, ...], baseline: tuple[int, ...], np: bool) -> SidePlan:
        key = (direction, admin, baseline, np)
        plan = self._tier_plans.get(key)
        if plan is None:
            pols = self.tier_pols
            plan = self._tier_plans[key] = SidePlan(
                direction,
                priority_groups(pols[i] for i in admin),
                np,
                priority_groups(pols[i] for i in baseline),
                self.model.nodes_known,
            )
        return plan

    def _tier_side(
        self,
        direction: Direction,
        pols: tuple[int, ...],
        tiers: tuple[tuple[int, ...], tuple[int, ...]],
        entries: list[TierEntry],
        np_entries: list[tuple[RuleRef, int]],
    ) -> _TierSide:
        has_block = any(r.has_ip_block for i in pols for r in self.policies[i].rules(direction))
        classes = TierClasses(
            self.tier_plan(direction, tiers[0], tiers[1], bool(pols)),
            entries,
            np_entries,
            isolated_by=tuple(self.policies[i].key for i in pols),
            has_ip_block=has_block,
            universe=self.all,
        )
        return _TierSide(classes)

    def _isolated_side(self, direction: Direction, pols: tuple[int, ...], entries: list[tuple[RuleRef, int]]) -> _Side:
        names = tuple(self.policies[i].key for i in pols)
        has_block = any(r.has_ip_block for i in pols for r in self.policies[i].rules(direction))
        return _Side(
            direction,
            SideState.DENIED,
            names,
            tuple(ref for ref, _ in entries),
            has_block,
            tuple(mask for _, mask in entries),
        )

    # -- rows ------------------------------------------------------------------------
    def rows(self, ports: PortList | None = None) -> ExpectedMatrix:
        n, pods, keys = self.n, self.pods, self.keys
        if ports is None:
            per_port: dict[tuple[int, Protocol], list[int]] = {}
            for i, p in enumerate(pods):
                for pp in sorted({(cp.port, cp.protocol) for c in p.serving_containers for cp in c.ports}):
                    per_port.setdefault(pp, []).append(i)
            plan = [(port, proto, dests) for (port, proto), dests in sorted(per_port.items())]
        else:
            plan = [(int(port), Protocol(proto), list(range(n))) for port, proto in dict.fromkeys(ports)]
        return ExpectedMatrix(keys, [self._block(port, proto, dests) for port, proto, dests in plan])

    def _egress_tier_side(
        self,
        pols: tuple[int, ...],
        tiers: tuple[tuple[int, ...], tuple[int, ...]],
        port: int,
        proto: Protocol,
        cache: dict[tuple[tuple[int, ...], tuple[tuple[int, ...], tuple[int, ...]]], _TierSide],
    ) -> _TierSide:
        """Egress of sources with these NetworkPolicies and cluster policies: classes of destinations."""
        side = cache.get((pols, tiers))
        if side is None:
            entries: list[TierEntry] = []
            for ci in tiers[0] + tiers[1]:
                pol = self.tier_pols[ci]
                for r in pol.egress:
                    ports = self.tier_port_mask(ci, r, port, proto)
                    sure, maybe = self.tier_peer_masks(ci, r)
                    entries.append((pol, r, sure & ports, maybe & ports))
            np_entries = [
                (
                    RuleRef(self.policies[pi].key, Direction.EGRESS, r.index),
                    self.rule_peer_mask(pi, r) & self.rule_port_mask(pi, r, port, proto),
                )
                for pi in pols
                for r in self.policies[pi].egress
            ]
            side = cache[(pols, tiers)] = self._tier_side(Direction.EGRESS, pols, tiers, entries, np_entries)
        return side

    def _ingress_tier_side(
        self,
        d: int,
        pols: tuple[int, ...],
        tiers: tuple[tuple[int, ...], tuple[int, ...]],
        port: int,
        proto: Protocol,
        cache: dict[tuple[object, ...], _TierSide],
    ) -> _TierSide:
        """Ingress of destination ``d``: classes of sources (rules whose ports match on ``d`` only)."""
        bit = 1 << d
        np_rules = tuple(
            (pi, r) for pi in pols for r in self.policies[pi].ingress if self.rule_port_mask(pi, r, port, proto) & bit
        )
        tier_rules = tuple(
            (ci, r)
            for ci in tiers[0] + tiers[1]
            for r in self.tier_pols[ci].ingress
            if self.tier_port_mask(ci, r, port, proto) & bit
        )
        key = (pols, tiers, tuple((pi, r.index) for pi, r in np_rules), tuple((ci, r.index) for ci, r in tier_rules))
        side = cache.get(key)
        if side is None:
            matching = {(ci, r.index) for ci, r in tier_rules}
            entries: list[TierEntry] = []
            for ci in tiers[0] + tiers[1]:
                pol = self.tier_pols[ci]
                for r in pol.ingress:
                    sure, maybe = self.tier_peer_masks(ci, r) if (ci, r.index) in matching else (0, 0)
                    entries.append((pol, r, sure, maybe))
            np_entries = [
                (RuleRef(self.policies[pi].key, Direction.INGRESS, r.index), self.rule_peer_mask(pi, r))
                for pi, r in np_rules
            ]
            side = cache[key] = self._tier_side(Direction.INGRESS, pols, tiers, entries, np_entries)
        return side

    def _block(self, port: int, proto: Protocol, dests: list[int]) -> _PortBlock:
        n, pods, m = self.n, self.pods, len(dests)
        host_eg = _Side(Direction.EGRESS, SideState.HOST_NETWORK)
        host_in = _Side(Direction.INGRESS, SideState.HOST_NETWORK)
        free_eg = _Side(Direction.EGRESS, SideState.NOT_ISOLATED)
        free_in = _Side(Direction.INGRESS, SideState.NOT_ISOLATED)
        eg_pols, in_pols = self.isolating[Direction.EGRESS], self.isolating[Direction.INGRESS]
        classes = _Classes()
        # egress side per source (shared by sources with the same isolating policy set)
        eg_cache: dict[tuple[int, ...], AnySide] = {}
        eg_tier_cache: dict[tuple[tuple[int, ...], tuple[tuple[int, ...], tuple[int, ...]]], _TierSide] = {}
        eg_tiers, in_tiers = self.tiers[Direction.EGRESS], self.tiers[Direction.INGRESS]
        eg_sids = []
        side: AnySide | None
        for i in range(n):
            if pods[i].host_network:
                side = host_eg
            elif eg_tiers[i] != ((), ()):
                side = self._egress_tier_side(eg_pols[i], eg_tiers[i], port, proto, eg_tier_cache)
            else:
                pols = eg_pols[i]
                side = eg_cache.get(pols)
                if side is None:
                    if not pols:
                        side = free_eg
                    else:
                        entries = [
                            (
                                RuleRef(self.policies[pi].key, Direction.EGRESS, r.index),
                                self.rule_peer_mask(pi, r) & self.rule_port_mask(pi, r, port, proto),
                            )
                            for pi in pols
                            for r in self.policies[pi].egress
                        ]
                        side = self._isolated_side(Direction.EGRESS, pols, entries)
                    eg_cache[pols] = side
            eg_sids.append(classes.side_id(True, side, self.has_ip[i]))
        # ingress side per destination (policy set + which rules' ports match on it)
        in_cache: dict[tuple[tuple[int, ...], tuple[tuple[int, int], ...]], AnySide] = {}
        in_sids = []
        in_tier_cache: dict[tuple[object, ...], _TierSide] = {}
        for d in dests:
            if pods[d].host_network:
                side = host_in
            elif in_tiers[d] != ((), ()):
                side = self._ingress_tier_side(d, in_pols[d], in_tiers[d], port, proto, in_tier_cache)
            elif not in_pols[d]:
                side = free_in
            else:
                pols = in_pols[d]
                bit = 1 << d
                matching = tuple(
                    (pi, r)
                    for pi in pols
                    for r in self.policies[pi].ingress
                    if self.rule_port_mask(pi, r, port, proto) & bit
                )
                ck = (pols, tuple((pi, r.index) for pi, r in matching))
                side = in_cache.get(ck)
                if side is None:
                    entries = [
                        (RuleRef(self.policies[pi].key, Direction.INGRESS, r.index), self.rule_peer_mask(pi, r))
                        for pi, r in matching
                    ]
                    side = in_cache[ck] = self._isolated_side(Direction.INGRESS, pols, entries)
            in_sids.append(classes.side_id(False, side, self.has_ip[d]))
        classes.close()
        if classes.same >= 1 << 64:
            raise ValueError(f"{port}/{proto}: too many distinct policy sides and rules to number the classes")
        fmt: Literal["I", "Q"] = "I" if classes.same < 1 << 32 else "Q"
        width = array(fmt).itemsize
        # ingress: one column of lanes (over all sources) per destination position
        in_bytes: dict[int, bytes] = {}
        for sid in set(in_sids):
            lanes = classes.ing[sid][0].lanes(n, n, classes.in_base[sid], width, _identity)
            in_bytes[sid] = lanes.to_bytes(n * width, "little")
        columns = memoryview(b"".join([in_bytes[sid] for sid in in_sids])).cast(fmt)  # [dest pos][source]
        del in_bytes
        # egress: per side id, its lanes over the destination positions, already scaled to class numbers
        compress = _identity if m == n else _compressor(dests, n)
        eg_ints: dict[int, int] = {}
        out = []
        for s in range(n):
            sid = eg_sids[s]
            eg = eg_ints.get(sid)
            if eg is None:
                eg = eg_ints[sid] = classes.in_count * classes.eg[sid][0].lanes(
                    n, m, classes.eg_base[sid], width, compress
                )
            # row s = egress lanes + column s of the ingress lanes: no carries, every lane < same
            out.append((eg + int.from_bytes(columns[s::n], "little")).to_bytes(m * width, "little"))
        columns.release()
        cells = array(fmt)
        cells.frombytes(b"".join(out))
        del out
        if sys.byteorder != "little":
            cells.byteswap()
        position = {d: j for j, d in enumerate(dests)}
        for s, j in position.items():
            cells[s * m + j] = classes.same
        return _PortBlock(port, proto, dests, [self.keys[d] for d in dests], cells, classes)


def _identity(mask: int) -> int:
    return mask


def _compressor(positions: list[int], n: int) -> Callable[[int], int]:
    """n-pod bitset -> bitset over ``positions`` (bit j set iff pod positions[j] is in the set)."""
    pick = itemgetter(*positions)

    def compress(mask: int) -> int:
        text = bin(mask)[:1:-1].ljust(n, "0")
        return int("".join(pick(text))[::-1], 2)

    return compress


def _spread(mask: int, n: int, width: int) -> int:
    """Bit i of ``mask`` -> value 1 in byte lane i (``width`` bytes each, little-endian),
    so adding multiples of spreads writes a code into every lane at C speed."""
    text = bin(mask)[:1:-1].ljust(n, "0").encode()
    return int.from_bytes(text.replace(b"0", b"\x00" * width).replace(b"1", b"\x01" + b"\x00" * (width - 1)), "little")


def expected_matrix(
    snapshot: Snapshot, ports: PortList | None = None, *, model: PolicyModel | None = None
) -> ExpectedMatrix:
    """Expected verdict of every (source pod, destination pod, port, protocol).

    ``ports`` None: each destination on its own declared container ports; otherwise
    exactly those ``(port, protocol)`` pairs for every destination, declared or not.
    The result is a compact read-only sequence of :class:`ExpectedRow` (see
    :class:`ExpectedMatrix`); ``list(...)`` it for a mutable copy.
    """
    if not snapshot.pods:
        return ExpectedMatrix([], [])
    return MatrixBuilder(model or PolicyModel(snapshot)).rows(ports)
