"""``kubereach predict`` and ``kubereach explain``: expected reachability, no probing.

Thin commands: parse flags, load a snapshot, call :func:`build_prediction`, render,
return an exit code. Results on stdout, the load summary on stderr.

Hooks for other commands (the live sweep adds cluster flags to ``predict`` later):
- ``predict_rows(snapshot, ports) -> list[rows]``: pod rows then intra-pod rows,
  each ``(source, destination, port, protocol, decision, reason)``;
- ``build_prediction(snapshot, ports) -> Prediction`` (rows, findings, isolation);
- ``snapshot_source`` is a module-level list of callables ``(ctx_params) -> Snapshot | None``
  tried before ``-f``: a cluster-discovery helper can append one and add its options
  with ``predict.params.append(...)`` without touching this module's logic.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence

import click

from orchestrator.errors import EXIT_OK, UsageError
from orchestrator.intrapod import analyze_intrapod, container_infos, pod_rules
from orchestrator.model import Direction, PolicyModel, expected_matrix
from orchestrator.reports.explain import render_explanation
from orchestrator.reports.predict import Prediction, iter_json, iter_prediction_csv, render_table
from orchestrator.snapshot import Pod, Snapshot, load_manifests
from probe.intrapod_rules import PortRef, decide, enforceability_findings
from probe.schema import Protocol

PortList = list[tuple[int, Protocol]]
_PORT = re.compile(r"^\s*(\d{1,5})\s*(?:/\s*([A-Za-z]+))?\s*$")

# callables (params) -> Snapshot | None, tried in order before -f (see module docstring)
snapshot_source: list[Callable[[dict[str, Any]], Snapshot | None]] = []


def parse_port(text: str, what: str = "--port") -> tuple[int, Protocol]:
    """``80``, ``80/TCP``, ``53/udp`` -> (port, Protocol); UsageError (naming ``what``) otherwise."""
    m = _PORT.match(text)
    if not m:
        raise UsageError(f"{what} {text!r}: expected PORT or PORT/PROTOCOL, e.g. 80/TCP or 53/UDP")
    number = int(m.group(1))
    if not 1 <= number <= 65535:
        raise UsageError(f"{what} {text!r}: port out of range 1-65535")
    return number, _protocol(m.group(2) or "TCP", what, text)


def _protocol(proto: str, what: str, text: str) -> Protocol:
    try:
        return Protocol(proto.strip().upper())
    except ValueError:
        raise UsageError(f"{what} {text!r}: unknown protocol {proto.strip().upper()} "
                         "(expected TCP, UDP or SCTP)") from None


def build_prediction(snapshot: Snapshot, ports: Sequence[tuple[int, Protocol]] | None = None) -> Prediction:
    model = PolicyModel(snapshot)
    rows: Sequence[tuple] = expected_matrix(snapshot, ports, model=model)   # compact ExpectedMatrix
    if len(rows) <= 500_000:     # readable order for humans; huge matrices keep the fast (compact) order
        rows = sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3]))
    intra = analyze_intrapod(snapshot, ports)
    isolation = _isolation(model, snapshot.pods)
    return Prediction([p.key for p in snapshot.pods], rows, intra.rows, intra.findings, isolation,
                      snapshot.skipped_kinds)


def _isolation(model: PolicyModel, pods: Sequence[Pod]) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """pod -> (``model.isolating`` ingress keys, egress keys); host-network pods: none.

    A policy only selects pods of its own namespace, so only those policies are tried
    (same lists, same order, without testing every policy against every pod)."""
    by_ns: dict[str, list] = {}
    for pol in model.policies:
        by_ns.setdefault(pol.namespace, []).append(pol)

    def keys(pod: Pod, direction: Direction) -> tuple[str, ...]:
        return tuple(x.key for x in by_ns.get(pod.namespace, ()) if x.isolates(direction) and model.selects(x, pod))
    return {p.key: ((keys(p, Direction.INGRESS), keys(p, Direction.EGRESS)) if not p.host_network else ((), ()))
            for p in pods}


def predict_rows(snapshot: Snapshot, ports: Sequence[tuple[int, Protocol]] | None = None) -> list[tuple]:
    prediction = build_prediction(snapshot, ports)
    return list(prediction.rows) + list(prediction.intrapod_rows)


def _load(files: Sequence[str], params: dict[str, Any]) -> Snapshot:
    for source in snapshot_source:
        snap = source(params)
        if snap is not None:
            return snap
    if not files:
        raise UsageError("no manifests given: use -f FILE_OR_DIR (repeatable), or a cluster flag "
                         "(--kubeconfig, --context, -n or -A) to read a live cluster")
    snap = load_manifests(files)
    skipped = ", ".join(f"{k} x{n}" for k, n in sorted(snap.skipped_kinds.items()))
    click.echo(f"loaded {len(snap.pods)} pods, {len(snap.policies)} network policies, "
               f"{len(snap.namespaces)} namespaces" + (f"; skipped {skipped}" if skipped else ""), err=True)
    return snap


_files_option = click.option("-f", "--filename", "files", multiple=True, type=click.Path(),
                             help="Manifest file or directory (repeatable; directories are read recursively; "
                                  "- reads standard input).")


@click.command("predict")
@_files_option
@click.option("--port", "ports", multiple=True, metavar="PORT/PROTO",
              help="Evaluate every destination on exactly these ports, declared or not (repeatable), "
                   "e.g. 80/TCP, 53/UDP, 9000/SCTP; the protocol defaults to TCP. Intra-pod rows keep "
                   "only these ports. Default: each destination on its own declared container ports.")
@click.option("-o", "--output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: an allow/deny grid per port (a per-namespace summary for large clusters); "
                   "csv: columns source, destination, port, protocol, verdict, reason; json: rows, findings, "
                   "isolated pods.")
@click.pass_context
def predict(ctx: click.Context, files: tuple[str, ...], ports: tuple[str, ...], output: str) -> int:
    """Expected reachability between pods (and containers) from manifests, without probing.

    Reads Namespaces, Pods (with status.podIP), Services and NetworkPolicies from
    YAML/JSON files, directories, `kind: List` or `kubectl get -o yaml` output, and
    prints what the NetworkPolicies and intra-pod rules allow: pods as namespace/pod,
    containers of one pod as namespace/pod/container. Results go to stdout, the load
    summary to stderr. With --kubeconfig, --context, -n or -A the objects come from a
    live cluster instead. Exit status 0; 2 for a bad flag or manifest; 3 when the
    cluster cannot be read.

    \b
    Examples:
      kubereach predict -f manifests/demo/
      kubereach predict -f cluster.yaml --port 80/TCP --port 53/UDP -o csv
    """
    port_list = [parse_port(p) for p in ports] or None
    snapshot = _load(files, ctx.params)
    prediction = build_prediction(snapshot, port_list)
    if output == "csv":
        _echo_all(iter_prediction_csv(prediction))
    elif output == "json":
        _echo_all(iter_json(prediction))
    else:
        click.echo(render_table(prediction), nl=False)
    return EXIT_OK


def _echo_all(pieces: Iterable[str]) -> None:
    """Stream text pieces to stdout; plain text goes out as bytes in stdout's own encoding
    (skipping click's per-piece ANSI scan, which is what costs on gigabytes); a piece
    with an escape character still goes through click.echo, so the output is the same."""
    stream = click.get_text_stream("stdout")
    encoding, errors = getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict"
    for piece in pieces:
        if "\x1b" in piece:
            click.echo(piece, nl=False)
        else:
            click.echo(piece.encode(encoding, errors), nl=False)


def _explain_intrapod(snapshot: Snapshot, src: str, dst: str, port_text: str) -> str:
    ns, pod_name, src_c = src.split("/")
    _, _, dst_c = dst.split("/")
    pod = snapshot.pod(f"{ns}/{pod_name}")
    if pod is None:
        raise UsageError(f"no pod {ns}/{pod_name} in the manifests")
    infos = {c.name: c for c in container_infos(pod)}
    for name in (src_c, dst_c):
        if name not in infos:
            raise UsageError(f"pod {pod.key} has no container {name!r} (containers: {', '.join(infos)})")
    number, proto = _port_on(port_text, infos[dst_c].port_names)
    head = f"{src} -> {dst} on {number}/{proto}: "
    if src_c == dst_c:
        return head + "ALLOW\n  a container always reaches its own ports\n"
    rules = pod_rules(pod)
    if rules is None:
        return head + ("ALLOW\n  the pod has no intra-pod rules annotation: containers share the network "
                       "namespace and reach each other freely\n")
    ref = PortRef(number, proto)
    lines = []
    if ref not in infos[dst_c].ports:
        lines.append(f"  note: container {dst_c!r} does not declare {ref}; rules only cover declared ports")
    decision = decide(rules, src_c, dst_c, ref)
    if decision.rule_index is not None:
        r = rules.rules[decision.rule_index]
        ports = ", ".join(map(str, r.ports)) if r.ports else "all declared ports"
        lines.insert(0, f"  decided by intra-pod rule {r.index} (the first that matches): "
                        f"from {r.source} to {r.target} ports {ports}: {r.action}")
    else:
        lines.insert(0, f"  no intra-pod rule matches {src_c} -> {dst_c} on {ref}, so the annotation's "
                        f"default applies: default {decision.action}")
    for f in enforceability_findings(infos.values()):
        if src_c in f.containers or dst_c in f.containers:
            lines.append(f"  warning: {f.message}")
    return head + f"{decision.action.upper()}\n" + "\n".join(lines) + "\n"


def _port_on(text: str, names: dict[str, PortRef]) -> tuple[int, Protocol]:
    name, _, proto = text.partition("/")
    if name in names and not name.isdigit():
        ref = names[name]
        if proto and proto.strip().upper() != ref.protocol:
            raise UsageError(f"port {text!r}: {name} is {ref}")
        return ref.port, ref.protocol
    return parse_port(text, "port")


@click.command("explain")
@click.argument("src")
@click.argument("dst")
@click.argument("port", metavar="PORT/PROTO")
@_files_option
@click.pass_context
def explain(ctx: click.Context, src: str, dst: str, port: str, files: tuple[str, ...]) -> int:
    """Why SRC may or may not reach DST on PORT/PROTO, in plain words.

    SRC and DST are namespace/pod (both sides of the connection are shown: the
    source's egress and the destination's ingress, with the policies and rules that
    decided each), or namespace/pod/container for two containers of one pod
    (intra-pod rules). PORT/PROTO is a number (80, 53/UDP; TCP by default) or a port
    name declared by the destination (http, dns/UDP).

    \b
    Examples:
      kubereach explain shop-frontend/web-1 shop-backend/api-1 8080/TCP -f manifests/demo/
      kubereach explain shop-frontend/web-1 shop-backend/api-1 http -f manifests/demo/
      kubereach explain shop-backend/api-1/sidecar shop-backend/api-1/app 8080 -f manifests/demo/
    """
    snapshot = _load(files, ctx.params)
    depth = {src.count("/"), dst.count("/")}
    if depth == {2}:
        if src.rsplit("/", 1)[0] != dst.rsplit("/", 1)[0]:
            raise UsageError("ns/pod/container form is for two containers of the same pod (intra-pod); "
                             "use ns/pod for pod-to-pod traffic")
        click.echo(_explain_intrapod(snapshot, src, dst, port), nl=False)
        return EXIT_OK
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
        else:       # a name declared for one protocol only (dns -> UDP) needs no /PROTO
            protos = {cp.protocol for c in d.serving_containers for cp in c.ports if cp.name == name}
            proto = protos.pop() if len(protos) == 1 else Protocol.TCP
        try:
            verdict = model.evaluate_named(s, d, name, proto)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        number, proto = parse_port(port, "port")
        verdict, name = model.evaluate(s, d, number, proto), None
    host = frozenset(p.key for p in (s, d) if p.host_network)
    click.echo(render_explanation(verdict, model.policies, name, host), nl=False)
    return EXIT_OK


# Cluster flags (--kubeconfig, --context, -n, -A, --request-timeout), shared with
# `sweep`: when any is given, predict/explain read the live cluster instead of -f.
from orchestrator.cli.options import install_live_snapshot  # noqa: E402

install_live_snapshot((predict, explain), snapshot_source)
