"""``kubereach audit``: findings about the policies themselves, from manifests or a live cluster.

Thin: parse flags, load the snapshot exactly as ``predict`` does (``-f`` or the cluster
flags), call :func:`orchestrator.audit.audit`, render, and turn ``--fail-on`` into the
exit status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from orchestrator import __version__
from orchestrator.audit import Severity, at_or_above
from orchestrator.audit import audit as run_audit
from orchestrator.cli.options import install_live_snapshot
from orchestrator.cli.predict import _files_option, _load
from orchestrator.errors import EXIT_MISMATCH, EXIT_OK
from orchestrator.reports.audit import counts_line, render_json, render_sarif, render_table
from orchestrator.snapshot import Snapshot

snapshot_source: list[Callable[[dict[str, Any]], Snapshot | None]] = []


@click.command("audit")
@_files_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
    help='table: grouped by severity, most severe first; json: {"findings": [...]} with id, kind, '
    "severity, title, message, objects, fix; sarif: SARIF 2.1.0 for CI code scanning (findings on "
    "the manifest file and line).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    default="high",
    show_default=True,
    help="Exit with status 1 when a finding of this severity or above exists.",
)
@click.pass_context
def audit(ctx: click.Context, files: tuple[str, ...], output: str, fail_on: str) -> int:
    """Find what is weak in the NetworkPolicies themselves, without probing.

    Coverage (pods no policy isolates, namespaces without a default deny), dead rules
    (policies that select no pod, peers that match nothing, named ports that resolve
    nowhere, the list-dash mistake that ORs a namespaceSelector and a podSelector),
    broad allows (every namespace, 0.0.0.0/0, ipBlocks over pod IPs, redundant rules),
    egress isolation without cluster DNS, Services that select nothing or target
    undeclared ports, host-network pods, and intra-pod rules that cannot be enforced.
    Each finding has a stable id, a severity (high, medium, low, info), the objects as
    Kind/namespace/name, and a fix where one exists. Reads -f files like predict, or a
    live cluster with the cluster flags. Results on stdout, the load summary on stderr.

    \b
    Exit status: 0 no finding at or above --fail-on; 1 some; 2 a bad flag or manifest;
    3 the cluster cannot be read.

    \b
    Examples:
      kubereach audit -f manifests/demo/
      kubereach audit -f k8s/ -o sarif > kubereach.sarif
      kubereach audit -A --fail-on medium -o json
    """
    snapshot = _load(files, ctx.params, snapshot_source)
    findings = run_audit(snapshot)
    if output == "json":
        click.echo(render_json(findings), nl=False)
    elif output == "sarif":
        click.echo(render_sarif(findings, version=__version__), nl=False)
    else:
        click.echo(render_table(findings), nl=False)
    failing = at_or_above(findings, Severity(fail_on))
    click.echo(f"kubereach audit: {counts_line(findings)}; {len(failing)} at or above {fail_on}", err=True)
    return EXIT_MISMATCH if failing else EXIT_OK


install_live_snapshot((audit,), snapshot_source)
