"""``kubereach predict`` and ``kubereach explain``: expected reachability, no probing.

Thin commands: parse flags, load a snapshot (files, or the live cluster when a cluster
flag is given), call :mod:`orchestrator.predict`, render, return an exit code. Results
on stdout, the load summary on stderr.

``snapshot_source`` is a module-level list of callables ``(ctx_params) -> Snapshot |
None`` tried before ``-f``: the cluster flags install one (see the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from orchestrator.errors import EXIT_OK, UsageError
from orchestrator.predict import build_prediction, explain_connection, parse_port
from orchestrator.reports.predict import describe_load, iter_json, iter_prediction_csv, render_table
from orchestrator.snapshot import Snapshot, load_manifests

# callables (params) -> Snapshot | None, tried in order before -f (see module docstring)
snapshot_source: list[Callable[[dict[str, Any]], Snapshot | None]] = []


def _load(files: Sequence[str], params: dict[str, Any]) -> Snapshot:
    for source in snapshot_source:
        snap = source(params)
        if snap is not None:
            return snap
    if not files:
        raise UsageError(
            "no manifests given: use -f FILE_OR_DIR (repeatable), or a cluster flag "
            "(--kubeconfig, --context, -n or -A) to read a live cluster"
        )
    snap = load_manifests(files)
    click.echo(describe_load(snap), err=True)
    return snap


_files_option = click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    type=click.Path(),
    help="Manifest file or directory (repeatable; directories are read recursively; - reads standard input).",
)


@click.command("predict")
@_files_option
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
    "isolated pods.",
)
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
    # click 8.5 deprecates get_text_stream and serves it from a module __getattr__ typed as object
    stream = click.get_text_stream("stdout")  # type: ignore[operator]
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
    click.echo(explain_connection(snapshot, src, dst, port), nl=False)
    return EXIT_OK


# Cluster flags (--kubeconfig, --context, -n, -A, --request-timeout), shared with
# `sweep`: when any is given, predict/explain read the live cluster instead of -f.
from orchestrator.cli.options import install_live_snapshot  # noqa: E402

install_live_snapshot((predict, explain), snapshot_source)
