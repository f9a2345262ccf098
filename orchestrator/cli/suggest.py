"""``kubereach suggest``: NetworkPolicies that make the policies match a reachability intent.

Thin: parse flags, load the intent and the snapshot (``-f`` or the cluster flags, as
``predict``), call :func:`orchestrator.audit.suggest.suggest`, print the predicted change,
write one file per policy (each loaded back through the manifest loader), exit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.options import install_live_snapshot
from orchestrator.cli.predict import _files_option, _load
from orchestrator.errors import EXIT_INCOMPLETE, EXIT_MISMATCH, EXIT_OK, UsageError
from orchestrator.snapshot import Snapshot

snapshot_source: list[Callable[[dict[str, Any]], Snapshot | None]] = []


@click.command("suggest")
@_files_option
@click.option(
    "--intent",
    "intent_file",
    type=click.Path(dir_okay=False),
    required=True,
    metavar="FILE",
    help="The ReachabilityIntent file: what should be reachable (docs/posture.md).",
)
@click.option(
    "-o",
    "--output-dir",
    "output_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Write one NetworkPolicy YAML file per policy into DIR (created; must be empty).",
)
@click.option(
    "--tighten",
    is_flag=True,
    default=False,
    help="Also close what the intent leaves unspecified: a default deny per namespace (DNS kept), "
    "then only what the intent allows.",
)
@click.option("--dry-run", is_flag=True, default=False, help="Print the predicted change and the YAML; write nothing.")
@click.pass_context
def suggest(
    ctx: click.Context,
    files: tuple[str, ...],
    intent_file: str,
    output_dir: str | None,
    tighten: bool,
    dry_run: bool,
) -> int:
    """Write NetworkPolicies that make the model's verdicts equal the intent.

    For every cell the intent specifies (allow or deny), the suggested policies make the
    policy model agree, without changing any cell it leaves unspecified (unless
    --tighten), keeping cluster DNS reachable, selecting pods by their workloads' own
    labels and naming ports the destinations declare. NetworkPolicies only ever add
    allows: a cell the intent denies that existing rules allow on both sides cannot be
    closed by adding a policy; such cells, and fixes only a person can make (a typo'd
    selector), are reported instead. The predicted change (cells opened and closed) is
    printed first; every policy is validated by the manifest loader before it is written
    and loaded back after. Apply them with `kubectl apply -f DIR` after review.

    \b
    Exit status: 0 the suggestions make every specified cell agree; 1 some cells still
    disagree (listed); 2 a bad flag, manifest or intent file, or DIR not empty; 3 the
    cluster cannot be read, or the suggestions would close an intended-allow or change an
    unspecified cell (nothing written).

    \b
    Examples:
      kubereach suggest -f manifests/demo/ --intent manifests/demo-intent.yaml -o fixes/
      kubereach suggest -A --intent intent.yaml --tighten --dry-run
    """
    from orchestrator.audit import audit
    from orchestrator.audit.intent import load_intent
    from orchestrator.audit.suggest import suggest as plan
    from orchestrator.reports.suggest import render_change

    if output_dir is None and not dry_run:
        raise UsageError("say where to write the policies (-o DIR), or use --dry-run")
    if output_dir is not None and os.path.isdir(output_dir) and os.listdir(output_dir) and not dry_run:
        raise UsageError(f"{output_dir}: not empty (kubereach writes suggestions into an empty or new folder)")
    intent = load_intent(intent_file)
    snapshot = _load(files, ctx.params, snapshot_source)
    result = plan(snapshot, intent, tighten=tighten, findings=audit(snapshot))
    click.echo(render_change(result, intent=intent.name, tighten=tighten), nl=False)
    if not result.safe:
        click.echo("kubereach suggest: nothing written (see REFUSED above)", err=True)
        return EXIT_INCOMPLETE
    texts = result.yaml_files()
    if dry_run:
        for name, text in texts:
            click.echo(f"--- # {name}\n{text}", nl=False)
    elif texts:
        written = _write(Path(output_dir or "."), texts)
        click.echo("\nWritten:\n" + "".join(f"  {p}\n" for p in written), nl=False)
        click.echo(f"Review, then: kubectl apply -f {output_dir}", nl=True)
    else:
        click.echo("\nNothing to write: the policies already do what the intent says (or cannot be fixed by adding).")
    return EXIT_MISMATCH if result.remaining.count else EXIT_OK


def _write(directory: Path, texts: list[tuple[str, str]]) -> list[str]:
    """Write the files, then load them back through the manifest loader (the schema check)."""
    from orchestrator.snapshot import load_manifests

    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in texts:
            path = directory / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
    except OSError as exc:
        raise UsageError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
    load_manifests(paths)  # raises a ManifestError naming the file if one did not validate
    return paths


install_live_snapshot((suggest,), snapshot_source)
