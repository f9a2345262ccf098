"""``kubereach report RUN_DIR``: (re)build the HTML report of a results folder.

Every sweep writes ``report.html`` into its results folder; this rebuilds it, e.g. for a
folder written by an older kubereach, or copied from CI, or to write it elsewhere.
The path written goes to stdout; errors (not a results folder, unreadable files) exit 2.
"""

from __future__ import annotations

import click

from orchestrator.cli.options import logging_options
from orchestrator.errors import EXIT_OK, UsageError


@click.command("report")
@click.argument("run_dir", metavar="RUN_DIR")
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    metavar="FILE",
    help="Write the report here instead of RUN_DIR/report.html ('-' for stdout).",
)
@logging_options
def report(run_dir: str, output: str | None, verbosity: int) -> int:
    """Build the HTML report of a sweep's results folder (RUN_DIR).

    \b
    One self-contained file that opens from disk with no network: summary counts, the
    unexpected rows first, a namespace x namespace heatmap per port coloured by verdict
    (with glyphs, in a colour-blind-safe palette), drilling down to the pod x pod grid of
    a cell and to one probe's evidence and reason; intra-pod rows per pod; filters by
    namespace, port and verdict, and search by pod name. When the sweep ran with
    --baseline, cells that changed since are outlined.
    """
    from orchestrator.reports.html import build_report, write_report

    html = build_report(run_dir)
    if output == "-":
        click.echo(html, nl=False)
        return EXIT_OK
    try:
        path = write_report(run_dir, html, output)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {exc.filename or output or run_dir}: {exc.strerror or exc}"
        ) from exc
    if verbosity >= 0:
        click.echo(path)
    return EXIT_OK


__all__ = ["report"]
