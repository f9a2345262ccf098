"""``suggest``'s plan on bitsets: the target of every cell, which sides to isolate or open,
the workload groups that get a policy, and what each side must and must not admit.

Steps 1 to 3 and the requirements of step 4 of :mod:`orchestrator.audit.suggest`; the
rules themselves are written by :mod:`orchestrator.audit.rules`.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.audit.context import bits
from orchestrator.audit.intent import Intent, IntentIndex
from orchestrator.audit.selection import LabelSel, Selection, select, workload_labels
from orchestrator.audit.sides import PortKey, Sides, declared_ports, universe
from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.policy import Direction
from orchestrator.snapshot.types import Pod, Snapshot
from probe.schema import Protocol

EGRESS, INGRESS = Direction.EGRESS, Direction.INGRESS


@dataclass
class Target:
    """Per port: the target rows and columns, and what is allowed today."""

    allow_row: list[int]
    deny_row: list[int]
    allow_col: list[int]
    deny_col: list[int]
    intended_allow_row: list[int]  # what the intent itself allows (for the safety check)
    unspecified_row: list[int]


def targets(sides: Sides, index: IntentIndex, tighten: bool) -> dict[PortKey, Target]:
    n, everyone = sides.n, sides.everyone
    out = {}
    for key, ps in sides.ports.items():
        port, proto = key
        ar, dr, iar, ur = [], [], [], []
        for s in range(n):
            ia, id_ = index.row(s, port, proto)
            cells = ps.dests & ~(1 << s)
            unspec = cells & ~ia & ~id_
            now = ps.egress[s] & ps.ingress_row[s]
            allow = (ia | (0 if tighten else unspec & now)) & cells
            ar.append(allow)
            dr.append(cells & ~allow)
            iar.append(ia & cells)
            ur.append(unspec)
        ac, dc = [], []
        for d in range(n):
            if not ps.dests >> d & 1:
                ac.append(0)
                dc.append(0)
                continue
            ia, id_ = index.column(d, port, proto)
            cells = everyone & ~(1 << d)
            unspec = cells & ~ia & ~id_
            now = ps.ingress[d] & ps.egress_col[d]
            allow = (ia | (0 if tighten else unspec & now)) & cells
            ac.append(allow)
            dc.append(cells & ~allow)
        out[key] = Target(ar, dr, ac, dc, iar, ur)
    return out


@dataclass
class Group:
    """One policy to write: a namespace, a direction, the pods whose needs it carries
    (``own``) and every pod its selector matches (``members``)."""

    namespace: str
    direction: Direction
    selector: LabelSel
    own: int
    members: int


class Namespaces:
    """Pods per namespace (host-network pods left out: selectors never match them), and a
    label index per namespace, so a selector's pods are a few ANDs of bitsets."""

    def __init__(self, sides: Sides) -> None:
        pods = sides.model.snapshot.pods
        self.members: dict[str, list[int]] = {}
        self.mask: dict[str, int] = {}
        self._labels: dict[str, dict[tuple[str, str], int]] = {}
        self._keys: dict[str, dict[str, int]] = {}
        self._workloads: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}
        self._workload_of: dict[int, tuple[str, frozenset[tuple[str, str]]]] = {}
        for i, pod in enumerate(pods):
            if sides.hostnet >> i & 1:
                continue
            ns = str(pod.namespace)
            wl = (ns, frozenset(workload_labels(pod).items()))
            self._workloads[wl] = self._workloads.get(wl, 0) | (1 << i)
            self._workload_of[i] = wl
            self.members.setdefault(ns, []).append(i)
            self.mask[ns] = self.mask.get(ns, 0) | (1 << i)
            index = self._labels.setdefault(ns, {})
            keys = self._keys.setdefault(ns, {})
            for item in pod.labels.items():
                index[item] = index.get(item, 0) | (1 << i)
                keys[item[0]] = keys.get(item[0], 0) | (1 << i)

    def replicas(self, pods: int) -> int:
        """Every pod sharing a workload (namespace and workload labels) with one of ``pods``:
        no selector can tell them apart."""
        out = 0
        for i in bits(pods):
            wl = self._workload_of.get(i)
            if wl is not None:
                out |= self._workloads[wl]
        return out

    def selected(self, ns: str, selector: LabelSel) -> int:
        mask = self.mask.get(ns, 0)
        index, keys = self._labels.get(ns, {}), self._keys.get(ns, {})
        for item in selector.labels:
            mask &= index.get(item, 0)
        for key in selector.absent:
            mask &= ~keys.get(key, 0)
        return mask


def groups_for(sides: Sides, touched: int, direction: Direction, spaces: Namespaces) -> tuple[list[Group], int]:
    """Policies for the ``touched`` pods of one direction, by workload; returns them and every
    pod they select (pods that share a workload's labels are pulled in, and then need a policy
    of their own, until nothing changes)."""
    pods = sides.model.snapshot.pods
    touched &= ~sides.hostnet
    while True:
        groups: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}
        for i in bits(touched):
            wl = (str(pods[i].namespace), frozenset(workload_labels(pods[i]).items()))
            groups[wl] = groups.get(wl, 0) | (1 << i)
        merged: dict[tuple[str, LabelSel], Group] = {}
        pulled = 0
        for (ns, labels), own in sorted(groups.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
            # every other workload is avoided, touched or not: each carries its own needs, and a
            # policy over two workloads would give each the other's allows
            avoid = [pods[i] for i in spaces.members.get(ns, []) if not own >> i & 1]
            choice: Selection = select([pods[i] for i in bits(own)], avoid)
            selector = (
                choice.selectors[0]
                if len(choice.selectors) == 1 and not choice.unresolved
                else LabelSel.of(dict(labels))
            )
            members = spaces.selected(ns, selector)
            pulled |= members & ~touched
            key = (ns, selector)
            if key in merged:  # two workloads one selector names together: one policy
                merged[key].own |= own
            else:
                merged[key] = Group(ns, direction, selector, own, members)
        if not pulled:
            out = list(merged.values())
            everyone = 0
            for g in out:
                everyone |= g.members
            return out, everyone
        touched |= pulled


def port_name(pods: Sequence[Pod], holders: int, port: int, proto: Protocol) -> str | None:
    """The name every pod of ``holders`` gives ``port/proto``, if they agree and none of them
    uses the name for another port (a named port resolves on each destination pod)."""
    names = set()
    for i in bits(holders):
        declared = [cp for c in pods[i].serving_containers for cp in c.ports]
        here = {cp.name for cp in declared if cp.port == port and cp.protocol == proto}
        if len(here) != 1 or None in here:
            return None
        names |= here
    if len(names) != 1:
        return None
    name = names.pop()
    for i in bits(holders):
        if any(
            cp.name == name and (cp.port, cp.protocol) != (port, proto)
            for c in pods[i].serving_containers
            for cp in c.ports
        ):
            return None
    return name


class Planner:
    def __init__(self, snapshot: Snapshot, intent: Intent, tighten: bool) -> None:
        self.snapshot, self.intent, self.tighten = snapshot, intent, tighten
        self.model = PolicyModel(snapshot)
        self.pods = snapshot.pods
        self.index = IntentIndex(intent, snapshot)
        self.ports = universe(declared_ports(self.model), intent.numeric_ports())
        self.sides = Sides(self.model, self.ports)
        self.target = targets(self.sides, self.index, tighten)
        self.spaces = Namespaces(self.sides)
        self.notes: list[str] = []

    # 2. which sides to isolate, which to open
    def touched(self) -> dict[Direction, int]:
        sd = self.sides
        iso_in, iso_eg = sd.isolated[INGRESS], sd.isolated[EGRESS]
        need = {INGRESS: 0, EGRESS: 0}
        if self.tighten:
            need[INGRESS] = sd.everyone & ~sd.hostnet & ~iso_in
            need[EGRESS] = sd.everyone & ~sd.hostnet & ~iso_eg
        for key, ps in sd.ports.items():
            t = self.target[key]
            for s in range(sd.n):
                now = ps.egress[s] & ps.ingress_row[s]
                close = t.deny_row[s] & now
                if close:
                    free_in = close & ~iso_in & ~sd.hostnet
                    need[INGRESS] |= free_in
                    if close & ~free_in and not (iso_eg | sd.hostnet) >> s & 1:
                        need[EGRESS] |= 1 << s
                open_ = t.allow_row[s] & ~now
                if open_:
                    if iso_eg >> s & 1 and open_ & ~ps.egress[s]:
                        need[EGRESS] |= 1 << s
                    need[INGRESS] |= open_ & iso_in & ~ps.ingress_row[s]
        return need

    def plan(self) -> tuple[list[Group], dict[Direction, int], dict[Direction, int]]:
        """The groups, the pods isolated afterwards, and the pods a new policy selects."""
        need = self.touched()
        groups: list[Group] = []
        final, changed = {}, {}
        for direction in (INGRESS, EGRESS):
            found, members = groups_for(self.sides, need[direction], direction, self.spaces)
            groups += found
            changed[direction] = members
            final[direction] = self.sides.isolated[direction] | members
        return groups, final, changed

    # 4. what each side must and must not allow, per port
    def requirements(
        self, final: dict[Direction, int], changed: dict[Direction, int]
    ) -> dict[PortKey, tuple[list[int], list[int], list[int], list[int]]]:
        """Per port: (must_in[d], must_not_in[d]) as source sets and (must_eg[s], must_not_eg[s])
        as destination sets, for the sides that end up isolated (``final``); ``changed``: the
        pods a new policy selects, per direction.

        A cell the target denies must be denied by one side: the destination's ingress
        wherever it can (it ends up isolated and no existing rule admits the source), else
        the source's egress. A cell whose source's egress stays as it is and denies it needs
        nothing from the ingress side."""
        sd = self.sides
        prev_in, prev_eg = sd.isolated[INGRESS], sd.isolated[EGRESS]
        fixed_eg = prev_eg & ~changed[EGRESS]
        out = {}
        for key, ps in sd.ports.items():
            t = self.target[key]
            must_in, not_in = [0] * sd.n, [0] * sd.n
            for d in bits(final[INGRESS] & ps.dests):
                existing = ps.ingress[d] if prev_in >> d & 1 else 0
                must_in[d] = t.allow_col[d] & ~existing
                egress_denies = fixed_eg & ~ps.egress_col[d]
                not_in[d] = t.deny_col[d] & ~existing & ~egress_denies
            must_eg, not_eg = [0] * sd.n, [0] * sd.n
            for s in bits(final[EGRESS]):
                existing = ps.egress[s] if prev_eg >> s & 1 else 0
                in_can_deny = final[INGRESS] & ~(prev_in & ps.ingress_row[s])
                must_eg[s] = t.allow_row[s] & ~existing
                not_eg[s] = t.deny_row[s] & ~existing & ~in_can_deny
            out[key] = (must_in, not_in, must_eg, not_eg)
        return out
