"""``kubereach diff OLD_RUN NEW_RUN``: drift of observed reachability between two sweeps.

Parses flags, calls :func:`orchestrator.reports.diff.diff_folders`, renders. Exit status:
0 no drift; 1 drift; 2 usage (a folder that is not a results folder); 3 no drift found,
but some cells did not measure in one of the runs, so they were not compared.
"""

from __future__ import annotations

import click

from orchestrator.cli.options import logging_options


@click.command("diff")
@click.argument("old_run", metavar="OLD_RUN")
@click.argument("new_run", metavar="NEW_RUN")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv and json list every changed cell.",
)
@logging_options
def diff(old_run: str, new_run: str, output: str, verbosity: int) -> int:
    """Compare two sweeps' results folders cell by cell: what changed in reality.

    \b
    A cell is (source, destination, port, protocol, scope). Changes:
      opened               same expectation, observed deny -> allow
      closed               same expectation, observed allow -> deny
      expectation-changed  the policies' verdict changed (old/new are expected values)
      appeared             the cell is only in NEW_RUN (pods, ports, services added)
      disappeared          the cell is only in OLD_RUN
    Pods whose names changed (a Deployment's new ReplicaSet) are matched through the
    workload that owns them. Cells where either run did not measure are not compared,
    and counted.

    \b
    Exit status: 0 no drift; 1 drift; 2 usage; 3 no drift found but some cells did not
    measure in one of the runs (never a pass).
    """
    from orchestrator.reports.diff import diff_folders, iter_drift_csv, render_drift_json, render_drift_table

    drift = diff_folders(old_run, new_run)
    if output == "csv":
        for chunk in iter_drift_csv(drift):
            click.echo(chunk, nl=False)
    elif output == "json":
        click.echo(render_drift_json(drift), nl=False)
    else:
        click.echo(render_drift_table(drift), nl=False)
    if output != "table" and verbosity >= 0:
        for note in drift.notes:
            click.echo(f"kubereach: note: {note}", err=True)
    return drift.exit_code


__all__ = ["diff"]
