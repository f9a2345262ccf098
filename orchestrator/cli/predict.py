"""``kubereach predict`` and ``kubereach explain``: expected reachability, no probing.

Thin commands: parse flags, load a snapshot (files, or the live cluster when a cluster
flag is given), call :mod:`orchestrator.predict`, render, return an exit code. Results
on stdout; the load summary and notes on stderr.

``snapshot_source`` is a module-level list of callables ``(ctx_params) -> Snapshot |
None`` tried before ``-f``: the cluster flags install one (see the end of this module).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from orchestrator.errors import EXIT_MISMATCH, EXIT_OK, UsageError
from orchestrator.model.names import dns1123_label_error
from orchestrator.predict import build_prediction, explain_connection, parse_port
from orchestrator.reports.predict import iter_json, iter_prediction_csv, render_load_summary, render_table
from orchestrator.snapshot import LoadOptions, Snapshot, load_manifests

# callables (params) -> Snapshot | None, tried in order before -f (see module docstring)
snapshot_source: list[Callable[[dict[str, Any]], Snapshot | None]] = []


def _load(
    files: Sequence[str],
    params: dict[str, Any],
    sources: list[Callable[[dict[str, Any]], Snapshot | None]] | None = None,
) -> Snapshot:
    """The snapshot from the live cluster (``sources``, the cluster flags) or from ``-f``."""
    for source in snapshot_source if sources is None else sources:
        snap = source(params)
        if snap is not None:
            if params.get("replicas"):
                raise UsageError("--replicas is for manifests (-f): a live cluster's pods are its replicas")
            return snap
    if not files:
        raise UsageError(
            "no manifests given: use -f FILE_OR_DIR (repeatable), or a cluster flag "
            "(--kubeconfig, --context, -n or -A) to read a live cluster"
        )
    snap = load_manifests(files, _options(params))
    click.echo(render_load_summary(snap), err=True, nl=False)
    return snap


def _options(params: dict[str, Any]) -> LoadOptions:
    """How to read -f: synthetic IPs for pods without one, -n (or the kubeconfig context's
    namespace, read only if some object names none) for objects without a namespace."""
    namespaces = tuple(params.get("namespace") or ())
    if len(namespaces) > 1:
        raise UsageError(
            f"with -f, -n names the one namespace for objects without one (given: {', '.join(namespaces)})"
        )
    if namespaces and (problem := dns1123_label_error(namespaces[0])) is not None:
        raise UsageError(f"-n {namespaces[0][:63]!r}: not a valid namespace name: {problem}")
    return LoadOptions(
        replicas=bool(params.get("replicas")),
        synthetic_ips=True,
        namespace=namespaces[0] if namespaces else None,
        namespace_fallback=_context_namespace,
    )


def _context_namespace() -> tuple[str, str]:
    from orchestrator.cluster.kube import context_namespace

    return context_namespace() or ("default", "default: no kubeconfig context names one")


_intent_option = click.option(
    "--intent",
    "intent_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="A ReachabilityIntent file (what should be reachable, see docs/posture.md): compare every "
    "cell with it. Adds the columns intended and intent_verdict (ok, violation-open, "
    "violation-closed, unspecified); exit status 1 on any violation.",
)

_files_option = click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    type=click.Path(),
    help="Manifest file or directory (repeatable; directories are read recursively; - reads standard input).",
)
_replicas_option = click.option(
    "--replicas",
    is_flag=True,
    default=False,
    help="Every declared replica of each workload (Deployment pods web-<hash>-<id>, StatefulSet web-0, "
    "web-1, one DaemonSet pod per Node, Job parallelism) instead of one representative pod per "
    "workload named namespace/workload.",
)


@click.command("predict")
@_files_option
@_replicas_option
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="PORT/PROTO",
    help="Evaluate every destination on exactly these ports, declared or not (repeatable), "
    "e.g. 80/TCP, 53/UDP, 9000/SCTP; the protocol defaults to TCP. Intra-pod rows keep "
    "only these ports. Default: each destination on its own declared container ports.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table: an allow/deny grid per port (a per-namespace summary for large clusters); "
    "csv: columns source, destination, port, protocol, verdict, reason; json: rows, findings, "
    "isolated pods, and the policies of each tier when cluster policies exist.",
)
@_intent_option
@click.pass_context
def predict(
    ctx: click.Context,
    files: tuple[str, ...],
    replicas: bool,
    ports: tuple[str, ...],
    output: str,
    intent_file: str | None,
) -> int:
    """Expected reachability between pods (and containers) from manifests, without probing.

    Reads Namespaces, Pods, workloads (Deployment, StatefulSet, DaemonSet, Job, CronJob,
    ReplicaSet, ReplicationController: the pods their templates describe), Services,
    Nodes and NetworkPolicies from YAML/JSON files, directories, `kind: List`, `helm
    template` or `kubectl get -o yaml` output, and prints what the NetworkPolicies and
    intra-pod rules allow: pods as namespace/pod (a workload's representative as
    namespace/workload, its kind shown in tables and JSON), containers of one pod as
    namespace/pod/container. Cluster-wide tiers are read too: ClusterNetworkPolicy
    (policy.networking.k8s.io v1alpha2, v1beta1), AdminNetworkPolicy and
    BaselineAdminNetworkPolicy (v1alpha1); the verdict is then also undefined
    (equal-priority policies disagree) or unknown (it depends on DNS or Nodes the
    manifests do not show) where it cannot be allow or deny. Pods without status.podIP
    get synthetic IPs from 198.18.0.0/15. Objects without a namespace go to -n NS (else
    the kubeconfig context's namespace, else default). Documents that are not Kubernetes
    objects (kustomization.yaml, Chart.yaml, values.yaml) are skipped and counted.
    Results go to stdout, the load summary to stderr. With --kubeconfig, --context, -A,
    or -n without -f, the objects come from a live cluster instead (pods grouped by
    workload in the table). With --intent, every cell is also compared with what should
    be reachable. Exit status 0; 1 when --intent is given and some cell violates it; 2 for
    a bad flag, manifest or intent file, or input with no pods; 3 when the cluster cannot
    be read.

    \b
    Examples:
      kubereach predict -f manifests/demo/
      kubereach predict -f manifests/examples/microservices/ --replicas
      helm template my-chart | kubereach predict -f - -n shop
      kubereach predict -f cluster.yaml --port 80/TCP --port 53/UDP -o csv
      kubereach predict -f manifests/demo/ --intent manifests/demo-intent.yaml
    """
    port_list = [parse_port(p) for p in ports] or None
    intent = _load_intent(intent_file)
    snapshot = _load(files, ctx.params)
    prediction = build_prediction(snapshot, port_list)
    for note in prediction.notes:
        click.echo(note, err=True)
    if intent is not None:
        return _predict_against_intent(prediction, snapshot, intent, output)
    if output == "csv":
        _echo_all(iter_prediction_csv(prediction))
    elif output == "json":
        _echo_all(iter_json(prediction))
    else:
        click.echo(render_table(prediction), nl=False)
    return EXIT_OK


def _load_intent(path: str | None) -> Any:
    if path is None:
        return None
    from orchestrator.audit.intent import load_intent

    return load_intent(path)


def _predict_against_intent(prediction: Any, snapshot: Snapshot, intent: Any, output: str) -> int:
    from orchestrator.audit.intent import IntentIndex
    from orchestrator.audit.judge import Tally, judge, tallied
    from orchestrator.reports.intent import iter_intent_csv, iter_intent_json, render_intent_section, tally_prediction

    tally = Tally()
    index = IntentIndex(intent, snapshot)
    if output == "csv":
        _echo_all(iter_intent_csv(prediction, index, tally))
    elif output == "json":
        _echo_all(iter_intent_json(prediction, tallied(judge(prediction.all_rows(), index), tally), tally, intent.name))
    else:
        tally_prediction(prediction, index, tally)
        click.echo(render_table(prediction), nl=False)
        click.echo("\n" + render_intent_section(tally, intent.name), nl=False)
    click.echo(tally.line(intent.name), err=True)
    return EXIT_MISMATCH if tally.violated else EXIT_OK


def _echo_all(pieces: Iterable[str]) -> None:
    """Stream text pieces to stdout; plain text goes out as bytes in stdout's own encoding
    (skipping click's per-piece ANSI scan, which is what costs on gigabytes); a piece
    with an escape character still goes through click.echo, so the output is the same."""
    stream = sys.stdout
    encoding, errors = getattr(stream, "encoding", None) or "utf-8", getattr(stream, "errors", None) or "strict"
    for piece in pieces:
        if "\x1b" in piece:
            click.echo(piece, nl=False)
        else:
            click.echo(piece.encode(encoding, errors), nl=False)


@click.command("explain")
@click.argument("src")
@click.argument("dst")
@click.argument("port", metavar="PORT/PROTO")
@_files_option
@_replicas_option
@_intent_option
@click.pass_context
def explain(
    ctx: click.Context, src: str, dst: str, port: str, files: tuple[str, ...], replicas: bool, intent_file: str | None
) -> int:
    """Why SRC may or may not reach DST on PORT/PROTO, in plain words.

    SRC and DST are namespace/pod (a workload's representative: namespace/workload;
    with --replicas its pods' names; both sides of the connection are shown: the
    source's egress and the destination's ingress, with the policies and rules that
    decided each, tier by tier when cluster policies select the pods), or
    namespace/pod/container for two containers of one pod (intra-pod rules).
    PORT/PROTO is a number (80, 53/UDP; TCP by default) or a port name declared by
    the destination (http, dns/UDP). With --intent it also says what
    the intent wants for this connection and, for a violation, which policy rule opens or
    closes it.

    \b
    Examples:
      kubereach explain shop-frontend/web-1 shop-backend/api-1 8080/TCP -f manifests/demo/
      kubereach explain shop-frontend/web-1 shop-backend/api-1 http -f manifests/demo/
      kubereach explain shop-backend/api-1/sidecar shop-backend/api-1/app 8080 -f manifests/demo/
      kubereach explain shop-frontend/web-1 shop-data/postgres-0 5432 -f manifests/demo/ \\
          --intent manifests/demo-intent.yaml
    """
    intent = _load_intent(intent_file)
    snapshot = _load(files, ctx.params)
    click.echo(explain_connection(snapshot, src, dst, port), nl=False)
    if intent is not None:
        from orchestrator.audit.judge import explain_intent_connection

        click.echo(explain_intent_connection(snapshot, intent, src, dst, port), nl=False)
    return EXIT_OK


# Cluster flags (--kubeconfig, --context, -n, -A, --request-timeout), shared with
# `sweep`: when any is given, predict/explain read the live cluster instead of -f.
from orchestrator.cli.options import install_live_snapshot  # noqa: E402

install_live_snapshot((predict, explain), snapshot_source)
