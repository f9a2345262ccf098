"""``predict`` and ``explain`` as application functions: a snapshot in, a prediction or
an explanation out.

Pure apart from what the renderers need: the CLI loads the snapshot (files or a live
cluster), calls :func:`build_prediction` or :func:`explain_connection`, and renders.
The sweep uses the same model; nothing here knows about click.

- ``build_prediction(snapshot, ports) -> Prediction``: pod rows (the compact expected
  matrix), intra-pod rows and findings, who is isolated, what the loader skipped.
- ``predict_rows(snapshot, ports)``: pod rows then intra-pod rows, as plain tuples.
- ``explain_connection(snapshot, src, dst, port) -> str``: one connection in plain
  words, pod to pod (``ns/pod``) or container to container (``ns/pod/container``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.errors import UsageError
from orchestrator.intrapod import analyze_intrapod, container_infos, pod_intrapod, pod_rules
from orchestrator.model import CompiledPolicy, Direction, ExpectedRow, PolicyModel, expected_matrix
from orchestrator.reports.explain import render_explanation
from orchestrator.reports.predict import Prediction, PredictionRow
from orchestrator.snapshot.types import Pod, Snapshot
from probe.intrapod_rules import decide
from probe.schema import PortRef, Protocol

PortList = Sequence[tuple[int, Protocol]]
# Past this many rows the matrix keeps its fast (compact) order instead of sorting
# for people: sorting 12 million rows costs more than computing them.
SORT_LIMIT = 500_000


def build_prediction(snapshot: Snapshot, ports: PortList | None = None) -> Prediction:
    model = PolicyModel(snapshot)
    rows: Sequence[ExpectedRow] = expected_matrix(snapshot, ports, model=model)  # compact ExpectedMatrix
    if len(rows) <= SORT_LIMIT:
        rows = sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3]))
    intra = analyze_intrapod(snapshot, ports)
    isolation = _isolation(model, snapshot.pods)
    return Prediction(
        [p.key for p in snapshot.pods], rows, intra.rows, intra.findings, isolation, snapshot.skipped_kinds
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
            verdict = model.evaluate_named(s, d, name, proto)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        port_name: str | None = name
    else:
        number, proto = parse_port(port, "port")
        verdict, port_name = model.evaluate(s, d, number, proto), None
    host = frozenset(p.key for p in (s, d) if p.host_network)
    return render_explanation(verdict, model.policies, port_name, host)


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
