"""``predict`` and ``explain`` as application functions: a snapshot in, a prediction or
an explanation out.

Pure apart from what the renderers need: the CLI loads the snapshot (files or a live
cluster), calls :func:`build_prediction` or :func:`explain_connection`, and renders.
The sweep uses the same model; nothing here knows about click.

- ``build_prediction(snapshot, ports) -> Prediction``: pod rows (the compact expected
  matrix), intra-pod rows and findings, who is isolated, what the loader skipped, what
  kind of workload each pod is, notes for stderr (synthetic IPs, per-pod labels that
  representatives do not carry), and the policies of each tier (Admin, NetworkPolicy,
  Baseline) when cluster policies exist. UsageError when the snapshot has no pods.
- ``predict_rows(snapshot, ports)``: pod rows then intra-pod rows, as plain tuples.
- ``explain_connection(snapshot, src, dst, port) -> str``: one connection in plain
  words, pod to pod (``ns/pod``) or container to container (``ns/pod/container``).
- ``pod_connection(model, src, dst, port) -> (Verdict, port name)``: the verdict behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.intrapod import analyze_intrapod, container_infos, pod_intrapod, pod_rules
from orchestrator.model import CompiledPolicy, Direction, ExpectedRow, PolicyModel, Verdict, expected_matrix
from orchestrator.model.tiers import CompiledClusterPolicy
from orchestrator.reports.explain import SideTiers, render_explanation
from orchestrator.reports.predict import PodInfo, Prediction, PredictionRow, TierListing
from orchestrator.snapshot.types import SYNTHETIC_POD_RANGE, Pod, PodName, Snapshot
from probe.intrapod_rules import decide
from probe.schema import PortRef, Protocol

PortList = Sequence[tuple[int, Protocol]]
# Past this many rows the matrix keeps its fast (compact) order instead of sorting
# for people: sorting 12 million rows costs more than computing them.
SORT_LIMIT = 500_000


# Labels the controllers put on one pod only: a representative cannot carry them, so a
# policy selecting on them needs --replicas to be evaluated per pod.
PER_POD_LABELS = (
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/job-completion-index",
)
WORKLOAD_KIND_NAMES = "Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ReplicationController"


def build_prediction(snapshot: Snapshot, ports: PortList | None = None) -> Prediction:
    if not snapshot.pods:
        raise UsageError(no_pods_message(snapshot))
    model = PolicyModel(snapshot)
    rows: Sequence[ExpectedRow] = expected_matrix(snapshot, ports, model=model)  # compact ExpectedMatrix
    if len(rows) <= SORT_LIMIT:
        rows = sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3]))
    intra = analyze_intrapod(snapshot, ports)
    isolation = _isolation(model, snapshot.pods)
    return Prediction(
        [p.key for p in snapshot.pods],
        rows,
        intra.rows,
        intra.findings,
        isolation,
        snapshot.skipped_kinds,
        pod_info={p.key: _info(p) for p in snapshot.pods},
        notes=tuple(_notes(snapshot, model) + _sibling_notes(snapshot, model, ports)),
        tiers=_tiers(model, snapshot.pods, isolation) if model.cluster_policies else {},
        load_notes=snapshot.notes,
    )


def _tiers(
    model: PolicyModel, pods: Sequence[Pod], isolation: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> dict[str, list[TierListing]]:
    """The policies of each tier in evaluation order, each with how many pods it selects.

    Cluster policies: by their ``subject`` (namespaces first, so each pod selector is only
    tried in the namespaces it can apply to); NetworkPolicies: pods they isolate."""
    out: dict[str, list[TierListing]] = {"Admin": [], "NetworkPolicy": [], "Baseline": []}
    by_ns: dict[str, list[Pod]] = {}
    for p in pods:
        if not p.host_network:
            by_ns.setdefault(p.namespace, []).append(p)
    for pol in model.cluster_policies:
        selected = sum(
            1
            for ns, members in by_ns.items()
            if pol.subject_namespaces.matches(model.namespace_labels(ns))
            for p in members
            if pol.subject_pods.matches(p.labels)
        )
        out[str(pol.tier)].append(_listing(pol, selected))
    counts: dict[str, int] = {}
    for ingress, egress in isolation.values():
        for key in set(ingress) | set(egress):
            counts[key] = counts.get(key, 0) + 1
    for np in model.policies:
        selected = counts.get(np.key, 0)
        out["NetworkPolicy"].append(TierListing(np.key, "NetworkPolicy", "networking.k8s.io/v1", None, selected))
    return out


def _listing(pol: CompiledClusterPolicy, selected: int) -> TierListing:
    return TierListing(
        pol.key,
        pol.kind,
        pol.api_version,
        pol.priority,
        selected,
        ingress_rules=len(pol.ingress),
        egress_rules=len(pol.egress),
    )


def _info(pod: Pod) -> PodInfo:
    w = pod.workload
    return PodInfo(
        w.kind if w else "Pod",
        f"{pod.namespace}/{w.name}" if w else None,
        pod.representative,
        pod.ips,
        pod.synthetic_ip,
    )


def _notes(snapshot: Snapshot, model: PolicyModel) -> list[str]:
    """What someone reading the verdicts must know about how they were made."""
    notes = []
    synthetic = sum(1 for p in snapshot.pods if p.synthetic_ip)
    if synthetic:
        notes.append(
            f"note: {synthetic} pods carry no IP in the manifests and got one from {SYNTHETIC_POD_RANGE}: "
            "ipBlock verdicts for them are not meaningful"
        )
    if any(p.representative for p in snapshot.pods):
        used = sorted(
            {
                (pol.key, req.key)
                for pol in model.policies
                for sel in _selectors(pol)
                for req in sel.requirements
                if req.key in PER_POD_LABELS
            }
        )
        for policy, key in used:
            notes.append(
                f"note: policy {policy} selects on the per-pod label {key}, which one representative pod "
                "per workload does not carry: use --replicas to evaluate every pod"
            )
    return notes


MAX_EXAMPLES = 3  # workloads named in a note before "and N more"


def sibling_blocks(snapshot: Snapshot, model: PolicyModel, ports: PortList | None = None) -> dict[str, list[str]]:
    """Representative ``namespace/workload`` -> the ports (``5432/TCP``) on which two of its
    replicas could not reach each other: the representative evaluated against a twin
    (same labels and ports, another pod), since its row to itself is one pod reaching itself."""
    out: dict[str, list[str]] = {}
    for rep in snapshot.pods:
        if not rep.representative:
            continue
        twin = replace(rep, name=PodName(f"{rep.name}/peer"))  # another replica: same labels, another pod
        targets = ports or sorted({(cp.port, cp.protocol) for c in rep.serving_containers for cp in c.ports})
        blocked = [f"{n}/{proto}" for n, proto in targets if model.evaluate(rep, twin, n, proto).decision != "allow"]
        if blocked:
            out[rep.key] = blocked
    return out


def _sibling_notes(snapshot: Snapshot, model: PolicyModel, ports: PortList | None) -> list[str]:
    """Say when two replicas of a workload could not reach each other on its ports, which a
    StatefulSet's peers or a cluster's members often need (the representative's own row
    cannot show it)."""
    blocks = sibling_blocks(snapshot, model, ports)
    if not blocks:
        return []
    kinds = {p.key: p.workload.kind for p in snapshot.pods if p.workload is not None}
    denied = [f"{kinds.get(key, 'Pod')} {key} on {', '.join(found)}" for key, found in blocks.items()]
    more = f", and {len(denied) - MAX_EXAMPLES} more" if len(denied) > MAX_EXAMPLES else ""
    examples = "; ".join(denied[:MAX_EXAMPLES]) + more
    return [
        f"note: replicas of {len(denied)} workload(s) cannot reach one another ({examples}): "
        "a representative's row to itself is one pod reaching itself; --replicas shows every pair"
    ]


def _selectors(policy: CompiledPolicy) -> list[Any]:
    out: list[Any] = [policy.pod_selector]
    for rule in policy.ingress + policy.egress:
        for peer in rule.peers or ():
            out += [s for s in (peer.pod_selector, peer.namespace_selector) if s is not None]
    return out


def no_pods_message(snapshot: Snapshot) -> str:
    """Why there is nothing to predict, and what the input held instead."""
    load = snapshot.load
    if load.replicas and load.workloads:
        return (
            "no pods: every workload in the input declares 0 replicas (or runs on no node); "
            "without --replicas each workload shows as one representative pod"
        )
    held = [
        f"{len(snapshot.policies)} network policies" if snapshot.policies else "",
        f"{len(snapshot.services)} services" if snapshot.services else "",
        f"{len(snapshot.namespaces)} namespaces" if snapshot.namespaces else "",
    ]
    skipped = {**snapshot.skipped_kinds, **load.skipped_documents}
    text = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
    return (
        f"no pods in the input: it holds no Pods and no workloads ({WORKLOAD_KIND_NAMES})"
        + (f"; it holds {', '.join(h for h in held if h)}" if any(held) else "")
        + (f"; skipped {text}" if text else "")
    )


def _isolation(model: PolicyModel, pods: Sequence[Pod]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """pod -> (``model.isolating`` ingress keys, egress keys); host-network pods: none.

    A policy only selects pods of its own namespace, so only those policies are tried
    (same lists, same order, without testing every policy against every pod)."""
    by_ns: dict[str, list[CompiledPolicy]] = {}
    for pol in model.policies:
        by_ns.setdefault(pol.namespace, []).append(pol)

    def keys(pod: Pod, direction: Direction) -> tuple[str, ...]:
        return tuple(x.key for x in by_ns.get(pod.namespace, ()) if x.isolates(direction) and model.selects(x, pod))

    return {
        p.key: ((keys(p, Direction.INGRESS), keys(p, Direction.EGRESS)) if not p.host_network else ((), ()))
        for p in pods
    }


def predict_rows(snapshot: Snapshot, ports: PortList | None = None) -> list[PredictionRow]:
    prediction = build_prediction(snapshot, ports)
    return list(prediction.rows) + list(prediction.intrapod_rows)


def parse_port(text: str, what: str = "--port") -> tuple[int, Protocol]:
    """``80``, ``80/TCP``, ``53/udp`` -> (port, Protocol); UsageError (naming ``what``) otherwise."""
    from orchestrator.sweep.selection import PlanError
    from orchestrator.sweep.selection import parse_port as parse_flag

    try:
        ref, additive = parse_flag(text, what=what)
    except PlanError as exc:
        raise UsageError(str(exc)) from None
    if additive:
        raise UsageError(f"{what} {text!r}: expected PORT or PORT/PROTOCOL, e.g. 80/TCP or 53/UDP")
    return ref.port, ref.protocol


def _protocol(name: str, what: str, text: str) -> Protocol:
    from orchestrator.sweep.selection import PlanError, parse_protocol

    try:
        return parse_protocol(name, what=what, text=text)
    except PlanError as exc:
        raise UsageError(str(exc)) from None


def explain_connection(snapshot: Snapshot, src: str, dst: str, port: str) -> str:
    """Why ``src`` may or may not reach ``dst`` on ``port``, in plain words (UsageError for
    names that are not in the snapshot)."""
    depth = {src.count("/"), dst.count("/")}
    if depth == {2}:
        if src.rsplit("/", 1)[0] != dst.rsplit("/", 1)[0]:
            raise UsageError(
                "ns/pod/container form is for two containers of the same pod (intra-pod); "
                "use ns/pod for pod-to-pod traffic"
            )
        return _explain_intrapod(snapshot, src, dst, port)
    if depth != {1}:
        raise UsageError("SRC and DST must both be ns/pod, or both ns/pod/container of the same pod")
    model = PolicyModel(snapshot)
    verdict, port_name = pod_connection(model, src, dst, port)
    s, d = model.pod(src), model.pod(dst)
    host = frozenset(p.key for p in (s, d) if p.host_network)
    tiers = {
        Direction.EGRESS: SideTiers(*model.tier_policies(s, Direction.EGRESS)),
        Direction.INGRESS: SideTiers(*model.tier_policies(d, Direction.INGRESS)),
    }
    return render_explanation(verdict, model.policies, port_name, host, tiers=tiers)


def pod_connection(model: PolicyModel, src: str, dst: str, port: str) -> tuple[Verdict, str | None]:
    """The model's verdict for ``src`` -> ``dst`` (``ns/pod``) on ``port`` (``80``, ``53/UDP``,
    or a port name the destination declares), and that name if one was given; UsageError
    for names that are not in the snapshot."""
    try:
        s, d = model.pod(src), model.pod(dst)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    name, _, proto_text = port.strip().partition("/")
    if name and not name.isdigit():
        if proto_text:
            proto = _protocol(proto_text, "port", port)
        else:  # a name declared for one protocol only (dns -> UDP) needs no /PROTO
            protos = {cp.protocol for c in d.serving_containers for cp in c.ports if cp.name == name}
            proto = protos.pop() if len(protos) == 1 else Protocol.TCP
        try:
            return model.evaluate_named(s, d, name, proto), name
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    number, proto = parse_port(port, "port")
    return model.evaluate(s, d, number, proto), None


def _explain_intrapod(snapshot: Snapshot, src: str, dst: str, port_text: str) -> str:
    ns, pod_name, src_c = src.split("/")
    _, _, dst_c = dst.split("/")
    pod = snapshot.pod(f"{ns}/{pod_name}")
    if pod is None:
        raise UsageError(f"no pod {ns}/{pod_name} in the manifests")
    infos = {c.name: c for c in container_infos(pod) if c.in_rules}
    for name in (src_c, dst_c):
        if name not in infos:
            raise UsageError(f"pod {pod.key} has no container {name!r} (containers: {', '.join(infos)})")
    number, proto = _port_on(port_text, infos[dst_c].port_names)
    head = f"{src} -> {dst} on {number}/{proto}: "
    if src_c == dst_c:
        return head + "ALLOW\n  a container always reaches its own ports\n"
    rules = pod_rules(pod)
    if rules is None:
        return head + (
            "ALLOW\n  the pod has no intra-pod rules annotation: containers share the network "
            "namespace and reach each other freely\n"
        )
    ref = PortRef(number, proto)
    lines = []
    if ref not in infos[dst_c].ports:
        lines.append(f"  note: container {dst_c!r} does not declare {ref}; rules only cover declared ports")
    decision = decide(rules, src_c, dst_c, ref)
    if decision.rule_index is not None:
        r = rules.rules[decision.rule_index]
        ports = ", ".join(map(str, r.ports)) if r.ports else "all declared ports"
        lines.insert(
            0,
            f"  decided by intra-pod rule {r.index} (the first that matches): "
            f"from {r.source} to {r.target} ports {ports}: {r.action}",
        )
    else:
        lines.insert(
            0,
            f"  no intra-pod rule matches {src_c} -> {dst_c} on {ref}, so the annotation's "
            f"default applies: default {decision.action}",
        )
    found = pod_intrapod(pod)
    for f in found.findings if found is not None else ():
        if src_c in f.containers or dst_c in f.containers or not f.containers:
            lines.append(f"  warning: {f.message}")
    return head + f"{decision.action.upper()}\n" + "\n".join(lines) + "\n"


def _port_on(text: str, names: Mapping[str, PortRef]) -> tuple[int, Protocol]:
    name, _, proto = text.partition("/")
    if name in names and not name.isdigit():
        ref = names[name]
        if proto and proto.strip().upper() != ref.protocol:
            raise UsageError(f"port {text!r}: {name} is {ref}")
        return ref.port, ref.protocol
    return parse_port(text, "port")
