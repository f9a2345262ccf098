"""``kubereach suggest``: NetworkPolicies that make the model's verdicts equal an intent.

NetworkPolicy v1 only ever *adds* allows, so new policies can do two things: isolate a
side that is not isolated yet (closing what no rule allows), and allow more on an
isolated side. The plan, on bitsets over the snapshot's pods (:mod:`.sides`):

1. the target of every cell of the universe (each destination's declared ports, plus
   the port numbers the intent names): the intent where it says allow or deny; where it
   says nothing, what is reachable today (``--tighten``: deny);
2. cells to close (target deny, allowed today) isolate the destination's ingress, or
   else the source's egress, when that side is not isolated yet; when both sides allow
   through existing rules (or use the host network), no added policy can close the cell:
   it is reported for a person;
3. sides to open (target allow, a side denies today) and sides to isolate are grouped
   by workload: one policy per (namespace, direction, workload), selecting the pods by
   their workload's own labels (:mod:`.selection`), so identical replicas share it;
4. each policy's rules admit every cell that must be allowed on the pods it selects and
   none that must stay denied there: peers are whole namespaces where nothing in them
   must be refused, otherwise workloads by their labels; ports are left out when every
   port may be allowed, and named where the destination declares the name; egress
   policies that newly isolate pods also allow cluster DNS;
5. the policies are validated by the snapshot loader (the schema check), added to the
   snapshot, and the model computes every cell again: what changed (opened, closed) and
   every cell that still differs from the intent, with the rule that decides it.

Mechanical audit fixes come along where they change no cell: DNS for egress-isolated
pods (when no DNS pod is in the snapshot), and with ``--tighten`` a default deny for
every namespace. Fixes only a person can make (a selector one typo away from a pod's
label) are listed from the audit, never guessed.

Pure: no I/O (the CLI writes the files).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.audit.context import bits
from orchestrator.audit.dns import STAND_IN, dns_egress_rule, dns_servers
from orchestrator.audit.findings import Finding
from orchestrator.audit.fixes import default_deny, policy, policy_name, to_yaml
from orchestrator.audit.intent import Intent, IntentIndex
from orchestrator.audit.selection import Selection, select, workload_labels
from orchestrator.audit.sides import PortKey, Sides, declared_ports, universe
from orchestrator.errors import ManifestError
from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.policy import Direction
from orchestrator.snapshot.types import NAMESPACE_NAME_LABEL, Origin, Pod, Snapshot
from probe.schema import Protocol

SAMPLE = 20  # cells listed per category in the report; counts cover them all
EGRESS, INGRESS = Direction.EGRESS, Direction.INGRESS


@dataclass(frozen=True, slots=True)
class Cell:
    source: str
    destination: str
    port: int
    protocol: Protocol

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination} {self.port}/{self.protocol}"


@dataclass
class CellSet:
    """A count of cells and the first few of them."""

    count: int = 0
    sample: list[Cell] = field(default_factory=list)

    def add_row(self, pods: Sequence[Pod], s: int, mask: int, port: int, protocol: Protocol) -> None:
        if not mask:
            return
        self.count += mask.bit_count()
        for d in bits(mask):
            if len(self.sample) >= SAMPLE:
                break
            self.sample.append(Cell(pods[s].key, pods[d].key, port, protocol))


@dataclass(frozen=True, slots=True)
class Unresolved:
    cell: Cell
    intended: str  # allow | deny
    why: str  # the model's reason after the suggestions


@dataclass
class Suggestion:
    policies: list[tuple[str, dict[str, Any]]]  # (file name, manifest)
    opened: CellSet
    closed: CellSet
    closed_intended_allow: CellSet  # must stay empty: the suggestions never close what should be open
    changed_unspecified: CellSet  # must stay empty unless --tighten
    violations_before: int
    remaining: CellSet  # specified cells that still differ from the intent
    unresolved: list[Unresolved]  # the first of them, with the model's reason
    person_fixes: list[Finding]
    notes: list[str]
    cells: int  # cells in the universe

    @property
    def safe(self) -> bool:
        """Whether writing these is safe: no intended-allow cell closes, and (unless asked
        to tighten) no cell the intent leaves unspecified changes."""
        return not self.closed_intended_allow.count and not self.changed_unspecified.count

    def yaml_files(self) -> list[tuple[str, str]]:
        out = []
        for name, obj in self.policies:
            why = obj["metadata"]["annotations"]["kubereach.io/why"]
            out.append((name, to_yaml(obj, f"Suggested by kubereach: {why}\nReview before applying.")))
        return out


# -- planning -------------------------------------------------------------------------------


@dataclass
class _Target:
    """Per port: the target rows and columns, and what is allowed today."""

    allow_row: list[int]
    deny_row: list[int]
    allow_col: list[int]
    deny_col: list[int]
    intended_allow_row: list[int]  # what the intent itself allows (for the safety check)
    unspecified_row: list[int]


def _targets(sides: Sides, index: IntentIndex, tighten: bool) -> dict[PortKey, _Target]:
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
        out[key] = _Target(ar, dr, ac, dc, iar, ur)
    return out


@dataclass
class _Group:
    """One policy to write: a namespace, a direction, the pods whose needs it carries
    (``own``) and every pod its selector matches (``members``)."""

    namespace: str
    direction: Direction
    selector: dict[str, str]
    own: int
    members: int


class _Namespaces:
    """Pods per namespace (host-network pods left out: selectors never match them), and a
    label index per namespace, so a selector's pods are a few ANDs of bitsets."""

    def __init__(self, sides: Sides) -> None:
        pods = sides.model.snapshot.pods
        self.members: dict[str, list[int]] = {}
        self.mask: dict[str, int] = {}
        self._labels: dict[str, dict[tuple[str, str], int]] = {}
        for i, pod in enumerate(pods):
            if sides.hostnet >> i & 1:
                continue
            ns = str(pod.namespace)
            self.members.setdefault(ns, []).append(i)
            self.mask[ns] = self.mask.get(ns, 0) | (1 << i)
            index = self._labels.setdefault(ns, {})
            for item in pod.labels.items():
                index[item] = index.get(item, 0) | (1 << i)

    def selected(self, ns: str, selector: Mapping[str, str]) -> int:
        mask = self.mask.get(ns, 0)
        index = self._labels.get(ns, {})
        for item in selector.items():
            mask &= index.get(item, 0)
        return mask


def _groups(sides: Sides, touched: int, direction: Direction, spaces: _Namespaces) -> tuple[list[_Group], int]:
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
        merged: dict[tuple[str, frozenset[tuple[str, str]]], _Group] = {}
        pulled = 0
        for (ns, labels), own in sorted(groups.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
            # every other workload is avoided, touched or not: each carries its own needs, and a
            # policy over two workloads would give each the other's allows
            avoid = [pods[i] for i in spaces.members.get(ns, []) if not own >> i & 1]
            choice: Selection = select([pods[i] for i in bits(own)], avoid)
            selector = choice.selectors[0] if len(choice.selectors) == 1 and not choice.unresolved else dict(labels)
            members = spaces.selected(ns, selector)
            pulled |= members & ~touched
            key = (ns, frozenset(selector.items()))
            if key in merged:  # two workloads one selector names together: one policy
                merged[key].own |= own
            else:
                merged[key] = _Group(ns, direction, selector, own, members)
        if not pulled:
            out = list(merged.values())
            everyone = 0
            for g in out:
                everyone |= g.members
            return out, everyone
        touched |= pulled


def _named(pods: Sequence[Pod], holders: int, port: int, proto: Protocol) -> str | None:
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


class _Planner:
    def __init__(self, snapshot: Snapshot, intent: Intent, tighten: bool) -> None:
        self.snapshot, self.intent, self.tighten = snapshot, intent, tighten
        self.model = PolicyModel(snapshot)
        self.pods = snapshot.pods
        self.index = IntentIndex(intent, snapshot)
        self.ports = universe(declared_ports(self.model), intent.numeric_ports())
        self.sides = Sides(self.model, self.ports)
        self.target = _targets(self.sides, self.index, tighten)
        self.spaces = _Namespaces(self.sides)
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

    def plan(self) -> tuple[list[_Group], dict[Direction, int], dict[Direction, int]]:
        """The groups, the pods isolated afterwards, and the pods a new policy selects."""
        need = self.touched()
        groups: list[_Group] = []
        final, changed = {}, {}
        for direction in (INGRESS, EGRESS):
            found, members = _groups(self.sides, need[direction], direction, self.spaces)
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


def _namespace_peer(namespaces: Sequence[str]) -> dict[str, Any]:
    if len(namespaces) == 1:
        return {"matchLabels": {NAMESPACE_NAME_LABEL: namespaces[0]}}
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}]}


class _Writer:
    """Step 4: rules for one group's policy from its per-peer needs."""

    def __init__(self, planner: _Planner) -> None:
        self.p = planner
        self.pods = planner.pods
        self.unreachable: set[int] = set()  # peers no selector can name (host network, twins)

    def peers(self, own_ns: str, wanted: int, avoid: int) -> tuple[list[dict[str, Any]], int]:
        """Peers matching every ``wanted`` pod and no ``avoid`` pod; also the pods they match."""
        pods, sd, spaces = self.pods, self.p.sides, self.p.spaces
        avoid &= ~sd.hostnet  # selectors never match host-network pods anyway
        for i in bits(wanted & sd.hostnet):
            self.unreachable.add(i)
        wanted &= ~sd.hostnet
        if not wanted:
            return [], 0
        if not avoid:
            return [{"namespaceSelector": {}}], sd.everyone & ~sd.hostnet
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
                self.unreachable.add(self.p.index.index[pod.key])
            for sel in choice.selectors:
                peer: dict[str, Any] = {} if ns == own_ns else {"namespaceSelector": _namespace_peer([ns])}
                peer["podSelector"] = {"matchLabels": sel} if sel else {}
                out.append(peer)
                matched |= spaces.selected(ns, sel)
        if whole:
            if whole == [own_ns]:
                out.insert(0, {"podSelector": {}})
            else:
                out.insert(0, {"namespaceSelector": _namespace_peer(whole)})
        return out, matched

    def port_entry(self, key: PortKey, holders: int) -> dict[str, Any]:
        port, proto = key
        name = _named(self.pods, holders, port, proto) if holders else None
        entry: dict[str, Any] = {"port": name if name else port}
        if proto is not Protocol.TCP:
            entry["protocol"] = str(proto)
        return entry

    def rules(
        self, group: _Group, must: Mapping[PortKey, int], must_not: Mapping[PortKey, int], *, exact: bool = False
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
        if exact:
            refused = self.p.sides.everyone & ~needed
            must_not = dict.fromkeys(must, refused)
        classes: dict[frozenset[PortKey] | None, int] = {}
        if needed & ~refused and not exact:
            classes[None] = needed & ~refused
        for i in bits(needed & refused if not exact else needed):  # peers refused on some ports, needed on others
            ports = frozenset(k for k, m in must.items() if m >> i & 1 and not must_not.get(k, 0) >> i & 1)
            classes[ports] = classes.get(ports, 0) | (1 << i)
        word = "from" if group.direction is INGRESS else "to"
        out = []
        for cls, wanted in sorted(classes.items(), key=lambda kv: (kv[0] is not None, sorted(kv[0] or ()))):
            avoid = refused
            if exact:
                avoid = self.p.sides.everyone & ~wanted
            elif cls is not None:
                avoid = 0
                for key in cls:
                    avoid |= must_not.get(key, 0)
            peers, matched = self.peers(group.namespace, wanted, avoid)
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


def _why(group: _Group, planner: _Planner, newly: int, rules: int) -> str:
    """The annotation a reviewer reads: which pods, why they are isolated (the intent rules
    that deny something to or from them), and what the rules admit."""
    pods, index = planner.pods, planner.index
    names = [pods[i].name for i in bits(group.members)]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    parts = []
    if newly:
        side = index.dst if group.direction is INGRESS else index.src
        denying = [
            st.label for k, st in enumerate(planner.intent.statements) if st.action.value == "deny" and side[k] & newly
        ]
        because = (
            "intent " + ", ".join(denying[:3]) + (" and more" if len(denying) > 3 else "")
            if denying
            else f"the intent's default ({planner.intent.default})"
            if planner.intent.default.value == "deny"
            else "--tighten"
            if planner.tighten
            else "the intent"
        )
        parts.append(f"isolates {shown} for {group.direction}: {because} denies connections open today")
    if rules:
        kept = (
            "only what the intent allows" if planner.tighten else "what the intent allows and what it leaves as it is"
        )
        parts.append(f"admits {kept}" + ("" if newly else f" ({shown})"))
    return "; ".join(parts) or f"selects {shown}"


def suggest(
    snapshot: Snapshot, intent: Intent, *, tighten: bool = False, findings: Sequence[Finding] = ()
) -> Suggestion:
    """Policies that make the model agree with ``intent``, and what they change (verified)."""
    planner = _Planner(snapshot, intent, tighten)
    sd, pods = planner.sides, planner.pods
    groups, final, changed = planner.plan()
    reqs = planner.requirements(final, changed)
    writer = _Writer(planner)
    manifests: list[dict[str, Any]] = []
    used: set[tuple[str, str]] = {(p.namespace, p.name) for p in snapshot.policies}

    def unique(ns: str, name: str) -> str:
        base, k = name, 2
        while (ns, name) in used:
            name = policy_name(base, str(k))
            k += 1
        used.add((ns, name))
        return name

    denied_ns: dict[str, set[Direction]] = {}
    if tighten:
        for direction in (INGRESS, EGRESS):
            for g in groups:
                if g.direction is direction:
                    denied_ns.setdefault(g.namespace, set()).add(direction)
        for ns, directions in sorted(denied_ns.items()):
            ordered = [d for d in (INGRESS, EGRESS) if d in directions]
            obj = default_deny(ns, ordered)
            obj["metadata"]["name"] = unique(ns, obj["metadata"]["name"])
            if EGRESS in directions:
                obj["spec"]["egress"] = [dns_egress_rule()]
                obj["metadata"]["annotations"]["kubereach.io/why"] += "; cluster DNS stays reachable"
            manifests.append(obj)
    for g in groups:
        idx = 0 if g.direction is INGRESS else 2
        must: dict[PortKey, int] = {}
        must_not: dict[PortKey, int] = {}
        for key, req in reqs.items():
            yes, no = req[idx], req[idx + 1]
            m = 0
            for i in bits(g.own & sd.ports[key].dests if g.direction is INGRESS else g.own):
                m |= yes[i]
            x = 0
            for i in bits(g.members):
                x |= no[i]
            if m:
                must[key] = m
            if x:
                must_not[key] = x
        newly = g.members & ~sd.isolated[g.direction]
        rules = writer.rules(g, must, must_not, exact=not newly and not tighten)
        if g.direction is EGRESS and newly and g.namespace not in denied_ns:
            rules.append(dns_egress_rule())
        if not rules and not newly:
            continue
        if tighten and g.namespace in denied_ns and not rules:
            continue  # the namespace's default deny isolates it already
        values = list(g.selector.values()) or ["all-pods"]
        name = unique(g.namespace, policy_name("kubereach", str(g.direction), *values))
        manifests.append(
            policy(
                g.namespace,
                name,
                g.selector,
                _why(g, planner, newly, len(rules)),
                ingress=rules if g.direction is INGRESS else None,
                egress=rules if g.direction is EGRESS else None,
            )
        )
    # mechanical audit fixes that change no cell: cluster DNS for pods isolated for egress
    # without it (only when no DNS pod is in the snapshot: then no cell of it changes)
    if dns_servers(snapshot) == [STAND_IN]:
        for f in findings:
            if f.kind != "egress-without-dns":
                continue
            ns = f.subject.split("/", 1)[1]
            keys = {o.split("/", 1)[1] for o in f.objects if o.startswith("Pod/")}
            blind = [p for p in pods if p.key in keys and not changed[EGRESS] >> planner.index.index[p.key] & 1]
            if not blind or ns in denied_ns:
                continue
            others = [p for p in pods if p.namespace == ns and not p.host_network and p.key not in keys]
            choice = select(blind, others)
            if choice.unresolved:
                continue
            for sel in choice.selectors:
                manifests.append(
                    policy(
                        ns,
                        unique(ns, policy_name("kubereach-allow-dns", *(sel.values() or ["all-pods"]))),
                        sel,
                        f"pods of {ns} are isolated for egress without cluster DNS (audit: {f.id})",
                        egress=[dns_egress_rule()],
                    )
                )
    return _repaired(planner, manifests, writer, findings)


def _repaired(
    planner: _Planner, manifests: list[dict[str, Any]], writer: _Writer, findings: Sequence[Finding]
) -> Suggestion:
    """Verify; while the suggestions would close an intended-allow cell or change an
    unspecified one (pods with identical labels that the intent treats differently, a
    host-network peer no selector names), withdraw every suggested policy on the pods of
    those cells and verify again. What they were for stays a reported violation."""
    withdrawn: list[str] = []
    while True:
        result, unsafe = _verify(planner, manifests, writer, findings)
        if result.safe or not manifests:
            break
        keep = []
        for obj in manifests:
            ns, spec = obj["metadata"]["namespace"], obj["spec"]
            selected = planner.spaces.selected(ns, spec["podSelector"].get("matchLabels") or {})
            hit = ("Ingress" in spec["policyTypes"] and selected & unsafe[INGRESS]) or (
                "Egress" in spec["policyTypes"] and selected & unsafe[EGRESS]
            )
            if hit:
                withdrawn.append(f"{ns}/{obj['metadata']['name']}")
            else:
                keep.append(obj)
        if len(keep) == len(manifests):  # cannot happen: every changed cell has a new policy on one side
            break
        manifests = keep
    if withdrawn:
        result.notes.insert(
            0,
            f"withdrew {len(withdrawn)} suggested polic{'y' if len(withdrawn) == 1 else 'ies'} ("
            + ", ".join(withdrawn[:5])
            + (" ..." if len(withdrawn) > 5 else "")
            + "): with the labels the pods carry, they would also have closed what should stay open (pods with "
            "identical labels that the intent treats differently, or host-network peers): relabel the workloads "
            "so a selector can tell them apart",
        )
    return result


def _validate(manifests: Iterable[dict[str, Any]]) -> Snapshot:
    """The snapshot loader's validation of every suggested policy (our schema check)."""
    from orchestrator.snapshot.objects import snapshot_from_objects

    try:
        return snapshot_from_objects((obj, Origin("suggested", i)) for i, obj in enumerate(manifests, 1))
    except ManifestError as exc:  # a bug in the planner, never the user's input
        raise AssertionError(f"kubereach wrote an invalid NetworkPolicy: {exc}") from exc


def file_name(index: int, obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{index:02d}-{meta['namespace']}-{meta['name']}.yaml"


def _verify(
    planner: _Planner, manifests: list[dict[str, Any]], writer: _Writer, findings: Sequence[Finding]
) -> tuple[Suggestion, dict[Direction, int]]:
    """The model's verdict on every cell with the suggestions added, and the pods whose
    cells changed unsafely (destinations for ingress, sources for egress)."""
    snapshot, sd, pods = planner.snapshot, planner.sides, planner.pods
    added = _validate(manifests)
    after_snapshot = replace(snapshot, policies=snapshot.policies + added.policies)
    after = Sides(PolicyModel(after_snapshot), planner.ports)
    opened, closed, closed_allow, changed_unspec, remaining = CellSet(), CellSet(), CellSet(), CellSet(), CellSet()
    before_violations = 0
    cells = 0
    wrong: list[tuple[int, int, PortKey, str]] = []
    unsafe = {INGRESS: 0, EGRESS: 0}
    for key, ps in sd.ports.items():
        t = planner.target[key]
        aps = after.ports[key]
        port, proto = key
        for s in range(sd.n):
            row = ps.dests & ~(1 << s)
            cells += row.bit_count()
            now = ps.allowed_row(s) & row
            then = aps.allowed_row(s) & row
            ia, id_ = planner.index.row(s, port, proto)
            specified = (ia | id_) & row
            before_violations += ((now ^ ia) & specified).bit_count()
            opened.add_row(pods, s, then & ~now, port, proto)
            closed.add_row(pods, s, now & ~then, port, proto)
            closed_allow.add_row(pods, s, now & ~then & ia, port, proto)
            harm = now & ~then & ia
            if not planner.tighten:
                changed_unspec.add_row(pods, s, (now ^ then) & t.unspecified_row[s], port, proto)
                harm |= (now ^ then) & t.unspecified_row[s]
            if harm:
                unsafe[INGRESS] |= harm
                unsafe[EGRESS] |= 1 << s
            bad = (then ^ ia) & specified
            remaining.add_row(pods, s, bad, port, proto)
            for d in bits(bad):
                if len(wrong) >= SAMPLE:
                    break
                wrong.append((s, d, key, "allow" if ia >> d & 1 else "deny"))
    model = PolicyModel(after_snapshot)
    unresolved = []
    for s, d, (port, proto), intended in wrong:
        verdict = model.evaluate(pods[s], pods[d], port, proto)
        why = verdict.reason
        if intended == "deny":
            why = "both sides allow it through existing rules (only narrowing them closes it): " + why
        elif s in writer.unreachable or d in writer.unreachable:
            why = "no label selector can name this pod apart from others the intent treats differently: " + why
        unresolved.append(Unresolved(Cell(pods[s].key, pods[d].key, port, proto), intended, why))
    notes = []
    newly_in = after.isolated[INGRESS] & ~sd.isolated[INGRESS]
    if newly_in:
        notes.append(
            "pods newly isolated for ingress no longer accept connections from outside the cluster (load balancers, "
            "nodes) unless a rule admits them: the intent covers pod-to-pod cells only; add an ipBlock if they must."
        )
    person = [
        f
        for f in findings
        if f.kind in ("policy-selects-nothing", "peer-matches-nothing", "service-selects-nothing")
        and f.severity.rank >= 2
    ]
    files = [(file_name(i, obj), obj) for i, obj in enumerate(manifests, 1)]
    suggestion = Suggestion(
        files,
        opened,
        closed,
        closed_allow,
        changed_unspec,
        before_violations,
        remaining,
        unresolved,
        person,
        notes,
        cells,
    )
    return suggestion, unsafe
