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
   every cell that still differs from the intent, with the rule that decides it;
6. if they would close a cell the intent allows, or change one it leaves unspecified
   (pods with identical labels the intent treats differently, host-network peers no
   selector names), the policies on those pods are withdrawn and 5 runs again: what they
   were for is reported, never written half-right.

Steps 1 to 3 live in :mod:`.planner`, the rules of step 4 in :mod:`.rules`.

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
from orchestrator.audit.intent import Intent
from orchestrator.audit.planner import EGRESS, INGRESS, Group, Planner
from orchestrator.audit.rules import RuleWriter
from orchestrator.audit.selection import LabelSel, select
from orchestrator.audit.sides import PortKey, Sides
from orchestrator.errors import ManifestError
from orchestrator.model.evaluate import PolicyModel
from orchestrator.model.policy import Direction
from orchestrator.snapshot.types import Origin, Pod, Snapshot
from probe.schema import Protocol

SAMPLE = 20  # cells listed per category in the report; counts cover them all


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


def _why(group: Group, planner: Planner, newly: int, rules: int) -> str:
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
    planner = Planner(snapshot, intent, tighten)
    sd, pods = planner.sides, planner.pods
    groups, final, changed = planner.plan()
    reqs = planner.requirements(final, changed)
    writer = RuleWriter(planner)
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
        values = g.selector.words() or ["all-pods"]
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
                        unique(ns, policy_name("kubereach-allow-dns", *(sel.words() or ["all-pods"]))),
                        sel,
                        f"pods of {ns} are isolated for egress without cluster DNS (audit: {f.id})",
                        egress=[dns_egress_rule()],
                    )
                )
    return _repaired(planner, manifests, writer, findings)


def _repaired(
    planner: Planner, manifests: list[dict[str, Any]], writer: RuleWriter, findings: Sequence[Finding]
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
            selected = planner.spaces.selected(ns, LabelSel.from_dict(spec["podSelector"]))
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
    from orchestrator.snapshot.build import snapshot_from_objects

    try:
        return snapshot_from_objects((obj, Origin("suggested", i)) for i, obj in enumerate(manifests, 1))
    except ManifestError as exc:  # a bug in the planner, never the user's input
        raise AssertionError(f"kubereach wrote an invalid NetworkPolicy: {exc}") from exc


def file_name(index: int, obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{index:02d}-{meta['namespace']}-{meta['name']}.yaml"


def _verify(
    planner: Planner, manifests: list[dict[str, Any]], writer: RuleWriter, findings: Sequence[Finding]
) -> tuple[Suggestion, dict[Direction, int]]:
    """The model's verdict on every cell with the suggestions added, and the pods whose
    cells changed unsafely (destinations for ingress, sources for egress)."""
    snapshot, sd, pods = planner.snapshot, planner.sides, planner.pods
    added = _validate(manifests)
    after_snapshot = replace(snapshot, policies=snapshot.policies + added.policies)
    model = PolicyModel(after_snapshot)
    after = Sides(model, planner.ports)
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
