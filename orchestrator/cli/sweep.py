"""``kubereach sweep`` and ``kubereach cleanup``: parse flags, call the application, render.

Results (the summary table) go to stdout, logs and progress to stderr. Exit status:
0 every probe ok; 1 any unexpected-allow/-deny; 2 usage or configuration error;
3 the sweep could not complete or some probes are inconclusive.
"""

from __future__ import annotations

import platform
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from typing import Any

import click

from orchestrator.cli.options import KubeFlags, kube_options, logging_options
from orchestrator.errors import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, UsageError
from orchestrator.sweep.compare import CompareOptions
from orchestrator.sweep.deploy import SweepMeta
from orchestrator.sweep.plan import PlanOptions, Scope, SourceMode, swept_pods
from orchestrator.sweep.selection import PlanError, PodSelector, port_selection
from probe.schema import DEFAULT_AGENT_IMAGE, Method

# The summary lists this many drift rows (drift.csv has all of them).
LIST_LIMIT = 25


def _err(message: str) -> None:
    click.echo(f"kubereach: {message}", err=True)


@dataclass(frozen=True, slots=True)
class Publish:
    """What a finished sweep publishes besides its results folder (checked before it starts)."""

    baseline: str | None = None  # a results folder to compare with (--baseline, resolved)
    metrics_file: str | None = None  # --metrics-file
    format: str = "table"  # --format: the summary table, or the whole result as JSON


def _publish_options(baseline: str | None, metrics_file: str | None, fmt: str, output_dir: str | None) -> Publish:
    from orchestrator.reports.metrics import check_metrics_path
    from orchestrator.reports.rundir import resolve_baseline

    if metrics_file:
        check_metrics_path(metrics_file)
    return Publish(resolve_baseline(baseline, output_dir) if baseline else None, metrics_file, fmt)


def _plan_options(
    ports: tuple[str, ...],
    sources: tuple[str, ...],
    destinations: tuple[str, ...],
    method: str,
    source_mode: str,
    scopes: tuple[str, ...] = (),
) -> PlanOptions:
    wanted = set(scopes) or {str(s) for s in Scope}
    try:
        mode, port_list = port_selection(ports)
        return PlanOptions(
            ports=port_list,
            port_mode=mode,
            method=Method(method),
            source_mode=SourceMode(source_mode),
            pods=str(Scope.POD) in wanted,
            intrapod=str(Scope.INTRA_POD) in wanted,
            services=str(Scope.SERVICE) in wanted,
            sources=tuple(PodSelector.parse(s) for s in sources),
            destinations=tuple(PodSelector.parse(s) for s in destinations),
        )
    except PlanError as exc:
        raise UsageError(str(exc)) from exc


@click.command("sweep")
@kube_options
@click.option(
    "-o",
    "--output-dir",
    "output_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Results folder (default: results/<UTC time>-<context>/).",
)
@click.option(
    "--from",
    "sources",
    multiple=True,
    metavar="SEL",
    help="Sources: [NAMESPACE:]LABEL-SELECTOR, e.g. shop:app=web (repeatable, OR-ed).",
)
@click.option("--to", "destinations", multiple=True, metavar="SEL", help="Destinations, same syntax as --from.")
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="PORT[/PROTO]",
    help="Probe exactly these ports (repeatable); +PORT adds to the declared ports.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice([s.value for s in Scope]),
    help="Probe only these scopes (repeatable; default: pod, intra-pod and service).",
)
@click.option(
    "--source-mode",
    type=click.Choice([m.value for m in SourceMode]),
    default="ephemeral",
    show_default=True,
    help="ephemeral: an ephemeral container in each source pod (its true "
    "identity); pod: a probe pod with the source's labels.",
)
@click.option(
    "--method",
    type=click.Choice(["connect", "syn"]),
    default="connect",
    show_default=True,
    help="TCP probe method; syn needs NET_RAW (scapy evidence).",
)
@click.option(
    "--timeout", type=click.FloatRange(0.05, 120), default=1.0, show_default=True, help="Seconds per probe attempt."
)
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True, help="Retries of a silent probe.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 65536),
    default=256,
    show_default=True,
    help="Probes in flight inside each agent.",
)
@click.option(
    "--max-agents",
    type=click.IntRange(1, 1024),
    default=32,
    show_default=True,
    help="Agents running at once across the cluster.",
)
@click.option(
    "--rate",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="New probes per second per agent (0: unlimited).",
)
@click.option(
    "--deadline",
    type=click.FloatRange(1, 86400),
    default=300.0,
    show_default=True,
    help="Seconds for the whole sweep; unfinished probes are inconclusive.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0, 600),
    default=2.0,
    show_default=True,
    help="Seconds to wait before re-probing mismatching cells (0: no re-probe).",
)
@click.option("--agent-image", default=DEFAULT_AGENT_IMAGE, show_default=True, help="The agent image.")
@click.option(
    "--closed-means-denied",
    is_flag=True,
    default=False,
    help="Read 'closed' (RST) as denied for pod rows too, for CNIs that reject with RST.",
)
@click.option(
    "--dry-run", is_flag=True, default=False, help="Print every object the sweep would create (YAML) and exit."
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also write a JUnit XML report (unexpected rows fail, inconclusive ones error).",
)
@click.option(
    "--baseline",
    default=None,
    metavar="RUN_DIR|latest",
    help="Compare with an earlier results folder (latest: the newest beside this one): the summary "
    "lists the drift, report.html outlines changed cells, drift.csv lists them.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also write OpenMetrics text for Prometheus' node-exporter textfile collector (e.g. "
    "/var/lib/node_exporter/kubereach.prom), replaced atomically.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="stdout: the summary table, or the whole result (summary and every row) as JSON for "
    "scripts (printed even with -q); -o stays the results folder.",
)
@click.option(
    "--intent",
    "intent_file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="A ReachabilityIntent file: compare what was observed with what should be reachable "
    "(columns intended and intent_verdict in probes.csv; violations first in the summary; "
    "exit status 1 on any violation).",
)
@click.option(
    "--simulate-from",
    "simulate_from",
    multiple=True,
    hidden=True,
    type=click.Path(exists=True),
    help="No cluster: sweep a snapshot of these manifests with the simulated runner.",
)
@logging_options
def sweep(
    kube: KubeFlags,
    output_dir: str | None,
    sources: tuple[str, ...],
    destinations: tuple[str, ...],
    ports: tuple[str, ...],
    scopes: tuple[str, ...],
    source_mode: str,
    method: str,
    timeout: float,
    retries: int,
    concurrency: int,
    max_agents: int,
    rate: float,
    deadline: float,
    settle: float,
    agent_image: str,
    closed_means_denied: bool,
    dry_run: bool,
    junit: str | None,
    baseline: str | None,
    metrics_file: str | None,
    fmt: str,
    intent_file: str | None,
    simulate_from: tuple[str, ...],
    verbosity: int,
) -> int:
    """Probe the cluster from real source identities and compare with the policies.

    \b
    One agent per source pod (an ephemeral container in it, or with --source-mode pod a
    short-lived probe pod wearing its labels) probes every destination's declared ports
    (and Services, and intra-pod rules); each probe is compared with what the
    NetworkPolicies say. Writes probes.csv, matrix CSVs, summary.txt, snapshot.json,
    run.json and report.html (open it in a browser) under -o DIR (default
    results/<UTC time>-<context>/); the summary goes to
    stdout, logs and progress (on a terminal only) to stderr. Every object created is
    removed at the end, on Ctrl-C and on SIGTERM.

    \b
    With --intent FILE, every probe is also compared with what should be reachable, and
    the summary lists the violations first. The summary and run.json also carry the
    audit findings of the swept snapshot (`kubereach audit` explains each).

    \b
    Exit status: 0 every probe ok; 1 some unexpected-allow or unexpected-deny, or an
    intent violation; 2 a usage or configuration error (flags, kubeconfig, context, RBAC,
    intent file); 3 the sweep could not complete, or some probes are inconclusive (never
    a pass).
    """
    from orchestrator.sweep.progress import Progress

    intent = None
    if intent_file is not None:
        from orchestrator.audit.intent import load_intent

        intent = load_intent(intent_file)
    from orchestrator.sweep.run import ClusterOptions, SweepOptions, new_sweep_id, run_live

    plan_options = _plan_options(ports, sources, destinations, method, source_mode, scopes)
    closed = frozenset({Scope.INTRA_POD}) | (
        frozenset({Scope.POD, Scope.SERVICE}) if closed_means_denied else frozenset()
    )
    options = SweepOptions(plan_options, CompareOptions(closed), settle, max_agents)
    meta = SweepMeta(
        new_sweep_id(),
        agent_image,
        SourceMode(source_mode),
        Method(method),
        timeout,
        retries,
        concurrency,
        rate,
        deadline,
    )
    cluster = ClusterOptions(kube.kubeconfig, kube.context, kube.namespaces, kube.all_namespaces, kube.request_timeout)
    log = (lambda m: None) if verbosity < 0 else _err
    publish = Publish() if dry_run else _publish_options(baseline, metrics_file, fmt, output_dir)
    if simulate_from:
        return _simulate(simulate_from, meta, options, output_dir, verbosity, junit, publish, intent)
    progress = Progress(enabled=None if verbosity >= 0 else False)
    log(f"sweep {meta.sweep_id}: {meta.source_mode} source mode, method {meta.method}")
    outcome = run_live(
        cluster,
        meta,
        options,
        deadline_s=deadline,
        progress=progress,
        dry_run_out=(lambda text: click.echo(text, nl=False)) if dry_run else None,
        log=log,
    )
    progress.done()
    if outcome.result is None:
        if outcome.error is not None:
            raise outcome.error
        if outcome.interrupted:
            _err(f"interrupted by {outcome.interrupted} before discovery finished: nothing was probed or created")
            return EXIT_INCOMPLETE
        return EXIT_OK  # --dry-run
    result = outcome.result
    meta = outcome.meta or meta
    from orchestrator.reports.sweep import default_results_dir
    from orchestrator.sweep.run import utc_stamp

    directory = output_dir or default_results_dir(utc_stamp(), outcome.context)
    run_info = {
        "sweep_id": result.sweep_id,
        "context": outcome.context,
        "namespaces": list(outcome.namespaces) if outcome.namespaces is not None else "all",
        "started_at": outcome.started_at,
        "wall_s": round(outcome.wall_s, 3),
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "api_calls": {
            "total": outcome.api_call_total,
            "by_call": outcome.api_calls,
            "watch_connections": outcome.watch_connections,
            "log": outcome.api_call_log,
        },
        "cleaned": result.cleaned,
        "cleanup_error": result.cleanup_error,
    }
    code = _finish(result, outcome.snapshot, meta, options, directory, run_info, verbosity, junit, publish, intent)
    for line in ending_notice(result.ending, result.cleanup_error):
        _err(line)
    return code


def ending_notice(ending: Any, cleanup_error: str) -> list[str]:
    """What stderr says about a sweep that did not complete (results are written anyway)."""
    from orchestrator.sweep.ending import EndCause

    lines = []
    if ending.cause is EndCause.INTERRUPTED:
        lines.append(f"interrupted by {ending.detail}: unfinished probes are inconclusive")
    elif not ending.completed:
        lines.append(f"the sweep ended early ({ending.label}): {ending.message or ending.unfinished()}")
    if not ending.completed or cleanup_error:
        if cleanup_error:
            lines.append(f"cleanup {cleanup_error}; run `kubereach cleanup` to remove what this sweep left behind")
        else:
            lines.append("removed this sweep's objects")
    return lines


def _posture(result: Any, snapshot: Any, intent: Any) -> tuple[list[Any], list[Any]]:
    """The rows compared with the intent (if any), and the audit findings of the snapshot."""
    from orchestrator.audit import audit
    from orchestrator.sweep.compare import apply_intent

    rows = result.rows
    if intent is not None:
        from orchestrator.audit.intent import IntentIndex

        rows = apply_intent(rows, IntentIndex(intent, snapshot).intended)
    return rows, audit(snapshot)


def _finish(
    result: Any,
    snapshot: Any,
    meta: SweepMeta,
    options: Any,
    directory: str,
    run_info: dict[str, Any],
    verbosity: int,
    junit: str | None = None,
    publish: Publish = Publish(),
    intent: Any = None,
) -> int:
    from orchestrator import __version__
    from orchestrator.intrapod import intrapod_findings
    from orchestrator.reports.sweep import (
        findings_json,
        render_json,
        render_junit,
        render_matrices,
        render_probes_csv,
        render_summary,
        verdict_counts,
    )

    result.rows, findings = _posture(result, snapshot, intent)
    code: int = result.exit_code
    # probes.csv and snapshot.json first: the drift and the report read the folder back,
    # exactly as `kubereach diff` and `kubereach report` will later.
    early = {
        "probes.csv": render_probes_csv(result.rows),
        **render_matrices(result.rows),
        "snapshot.json": render_json(snapshot),
    }
    _write(directory, early)
    drift = _drift(publish.baseline, directory)
    # the same intra-pod findings predict shows and the webhook acts on, for the pods swept
    pod_findings = intrapod_findings(snapshot, swept_pods(result.plan))
    title = (
        f"kubereach sweep {result.sweep_id} ({run_info.get('context')}): {len(result.plan.agents)} agents, "
        f"{len(result.rows)} probes"
    )
    notes = list(result.notes)
    if result.cleanup_error:
        notes.append(f"cleanup {result.cleanup_error}: run `kubereach cleanup` to remove this sweep's leftovers")
    summary = render_summary(
        result.rows,
        title=title,
        skipped=result.plan.skipped,
        notes=notes,
        exit_code=code,
        results_dir=directory,
        complete=result.complete,
        intrapod_findings=pod_findings,
        ended=result.ending.sentence(),
        drift=_drift_text(drift),
        findings=findings,
        intent_name=intent.name if intent is not None else None,
    )
    try:
        import kubernetes

        client_version = getattr(kubernetes, "__version__", "")
    except ImportError:  # pragma: no cover
        client_version = ""
    run_info = {
        **run_info,
        "command": sys.argv,
        "options": {
            "sweep": asdict(meta),
            "plan": _plan_json(options.plan),
            "settle_s": options.settle_s,
            "max_agents": options.max_agents,
            "closed_means_denied": sorted(str(s) for s in options.compare.closed_means_denied),
        },
        "versions": {
            "kubereach": __version__,
            "python": platform.python_version(),
            "kubernetes_client": client_version,
        },
        "agents": len(result.plan.agents),
        "probes": len(result.rows),
        "reprobed": result.reprobed,
        "complete": result.complete,
        "ended": result.ending.label,
        "ended_detail": result.ending.message,
        "exit_code": code,
        "verdicts": {f"{s}/{v}": n for (s, v), n in sorted(verdict_counts(result.rows).items())},
        "skipped": [{"what": s.what, "reason": s.reason} for s in result.plan.skipped],
        "intrapod_findings": findings_json(pod_findings),
        "notes": result.notes,
        "findings": [f.as_dict() for f in findings],
        **(
            {
                "intent": {
                    "file": intent.source,
                    "name": intent.name,
                    "verdicts": dict(
                        sorted(Counter(str(r.intent_verdict) for r in result.rows if r.intent_verdict).items())
                    ),
                }
            }
            if intent is not None
            else {}
        ),
    }
    if drift is not None:
        from orchestrator.reports.diff import baseline_record, render_drift_csv

        run_info["baseline"] = baseline_record(drift)
    files = {
        "summary.txt": summary,
        "run.json": render_json(run_info),
        **({"drift.csv": render_drift_csv(drift)} if drift is not None else {}),
    }
    _write(directory, files)
    try:
        if junit:
            with open(junit, "w", encoding="utf-8") as fh:
                fh.write(render_junit(result.rows, name=f"kubereach sweep {result.sweep_id}"))
    except OSError as exc:
        raise UsageError(f"cannot write results to {exc.filename or directory}: {exc.strerror or exc}") from exc
    _report_and_metrics(directory, run_info, drift, publish)
    if publish.format == "json":
        import os

        from orchestrator.reports.jsonresult import iter_result_json, summary_of

        for chunk in iter_result_json(summary_of(run_info, directory, drift), os.path.join(directory, "probes.csv")):
            click.echo(chunk, nl=False)
    elif verbosity >= 0:
        click.echo(summary, nl=False)
    return code


def _write(directory: str, files: dict[str, str]) -> None:
    from orchestrator.reports.sweep import write_results

    try:
        write_results(directory, files)
    except OSError as exc:
        raise UsageError(f"cannot write results to {exc.filename or directory}: {exc.strerror or exc}") from exc


def _drift(baseline: str | None, directory: str) -> Any:
    """The drift from the baseline to the folder just written, or None without --baseline.

    A baseline that cannot be read (checked only for its probes.csv before the sweep) must
    not cost the sweep its result: the error is logged and no drift is reported."""
    if baseline is None:
        return None
    from orchestrator.reports.diff import diff_folders

    try:
        return diff_folders(baseline, directory)
    except UsageError as exc:
        _err(f"error: cannot compare with the baseline, no drift reported: {exc}")
        return None


def _drift_text(drift: Any) -> str:
    if drift is None:
        return ""
    from orchestrator.reports.diff import render_drift_table

    return render_drift_table(drift, limit=LIST_LIMIT)


def _report_and_metrics(directory: str, run_info: dict[str, Any], drift: Any, publish: Publish) -> None:
    """report.html in the folder, and the metrics file when asked for."""
    from orchestrator.reports.html import render_report, write_report
    from orchestrator.reports.reportdata import report_data
    from orchestrator.reports.rundir import load_run

    run = replace(load_run(directory, snapshot=False), info=run_info)
    try:
        write_report(directory, render_report(report_data(run, drift)))
    except OSError as exc:
        raise UsageError(f"cannot write {directory}/report.html: {exc.strerror or exc}") from exc
    if publish.metrics_file:
        from orchestrator.reports.metrics import render_metrics, write_metrics

        write_metrics(publish.metrics_file, render_metrics(run_info, drift, finished_at=time.time()))


def _plan_json(plan: PlanOptions) -> dict[str, Any]:
    return {
        "ports": [str(p) for p in plan.ports],
        "port_mode": str(plan.port_mode),
        "method": str(plan.method),
        "source_mode": str(plan.source_mode),
        "from": [s.text for s in plan.sources],
        "to": [s.text for s in plan.destinations],
        "scopes": [
            str(s)
            for s, on in ((Scope.POD, plan.pods), (Scope.INTRA_POD, plan.intrapod), (Scope.SERVICE, plan.services))
            if on
        ],
    }


def _simulate(
    paths: tuple[str, ...],
    meta: SweepMeta,
    options: Any,
    output_dir: str | None,
    verbosity: int,
    junit: str | None,
    publish: Publish = Publish(),
    intent: Any = None,
) -> int:
    """The whole pipeline without a cluster: the simulated runner answers from the model."""
    import asyncio

    from orchestrator.reports.sweep import default_results_dir
    from orchestrator.snapshot import load_manifests
    from orchestrator.sweep.plan import build_plan
    from orchestrator.sweep.run import execute, expectations_for, utc_stamp
    from orchestrator.sweep.runner import SimulatedRunner

    started = time.monotonic()
    snapshot = load_manifests(list(paths))
    runner = SimulatedRunner(expectations_for(snapshot, build_plan(snapshot, options.plan)))
    result = asyncio.run(execute(snapshot, runner, meta, options, sleep=lambda s: asyncio.sleep(0)))
    directory = output_dir or default_results_dir(utc_stamp(), "simulated")
    return _finish(
        result,
        snapshot,
        meta,
        options,
        directory,
        {
            "sweep_id": result.sweep_id,
            "context": "simulated",
            "namespaces": "all",
            "wall_s": round(time.monotonic() - started, 3),
            "timings": result.timings,
            "api_calls": {"total": 0, "by_call": {}, "log": []},
            "cleaned": [],
        },
        verbosity,
        junit,
        publish,
        intent,
    )


@click.command("cleanup")
@kube_options(namespace_help="Only this namespace (repeatable; default: every namespace you may list).")
@logging_options
def cleanup(kube: KubeFlags, verbosity: int) -> int:
    """Remove every object left behind by any kubereach sweep (probe pods and owner
    ConfigMaps labelled app.kubernetes.io/managed-by=kubereach), e.g. after a kill -9.

    \b
    Without -n it cleans every namespace you may list (-A says so explicitly): one
    cluster-wide LIST per kind where RBAC allows it, else namespace by namespace; if
    you may not list namespaces either, the context's namespace (and it says so).
    -n NS (repeatable) narrows it to those namespaces.

    \b
    Ephemeral containers cannot be removed from a pod: their agents exit on their own
    at their deadline. Exit status 0 when everything found was removed; 2 for a
    configuration error, or when RBAC refused a namespace (each is named, with what is
    left there); 3 when the cluster cannot be reached."""
    from orchestrator.cluster.kube import load_cluster
    from orchestrator.sweep.deploy import cleanup_leftovers

    with load_cluster(kube.kubeconfig, kube.context, request_timeout=kube.request_timeout) as k:
        report = cleanup_leftovers(k, kube.namespaces or None, all_requested=kube.all_namespaces)
    for note in report.notes:
        _err(note)
    for refusal in report.refused:
        left = (
            f"left there: {', '.join(refusal.remains)}"
            if refusal.remains
            else "whatever kubereach left there remains (it could not be listed)"
        )
        _err(f"namespace {refusal.namespace}: {left}; {refusal.message}")
    if verbosity >= 0:
        for d in report.deleted:
            click.echo(f"deleted {d}")
        click.echo(f"kubereach cleanup: {len(report.deleted)} object(s) removed in {report.scope}")
    if report.refused:
        names = ", ".join(r.namespace for r in report.refused)
        _err(f"RBAC refused cleanup in {len(report.refused)} namespace(s): {names} (exit 2)")
        return EXIT_USAGE
    return EXIT_OK


__all__ = ["sweep", "cleanup"]
