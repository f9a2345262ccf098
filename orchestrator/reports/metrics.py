"""``sweep --metrics-file``: the last sweep as OpenMetrics text, for scheduled runs.

Written for the Prometheus node-exporter *textfile collector* convention: a file named
``*.prom`` in the collector's directory, replaced atomically (written to a temporary
file in the same directory, then renamed) so the exporter never reads half of it.
Every metric is a gauge (a sweep's counts are a snapshot, not a running total), which
both the OpenMetrics parser and the classic Prometheus text parser read.

Built from what ``run.json`` records, so the same figures can be produced from any
results folder; other features' ``run.json`` keys (``exposure``, ``audit``,
``coverage``) become metrics when present. The metrics are yielded by a collector into
a fresh registry: no global state, and no multiprocess mode even if the environment
sets ``PROMETHEUS_MULTIPROC_DIR``.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.reports.rundir import dig, mapping_at
from orchestrator.sweep.compare import Verdict
from orchestrator.sweep.plan import Scope

PREFIX = "kubereach_sweep"
# Severity labels longer than this are cut: a label value is someone else's text.
MAX_LABEL = 64


def _severities(items: Any) -> Counter[str]:
    found: Counter[str] = Counter()
    if isinstance(items, Mapping):
        items = items.get("findings", items.get("results"))
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("severity"), str):
                found[item["severity"][:MAX_LABEL]] += 1
    return found


def metric_families(info: Mapping[str, Any], drift: Any = None, *, finished_at: float) -> Iterator[Any]:
    """The gauges for one sweep (``info``: its run.json; ``drift``: a Drift or None)."""
    from prometheus_client.core import GaugeMetricFamily

    run_info = GaugeMetricFamily(
        f"{PREFIX}_info", "The last sweep: its context and kubereach version (always 1).", labels=["context", "version"]
    )
    run_info.add_metric(
        [str(info.get("context", ""))[:MAX_LABEL], str(dig(info, "versions.kubereach") or "")[:MAX_LABEL]], 1
    )
    yield run_info

    results = GaugeMetricFamily(
        f"{PREFIX}_probe_results", "Probes of the last sweep per scope and verdict.", labels=["scope", "verdict"]
    )
    counts: dict[tuple[str, str], int] = {}
    for key, n in mapping_at(info, "verdicts").items():
        scope, _, verdict = str(key).partition("/")
        if isinstance(n, int):
            counts[(scope[:MAX_LABEL], verdict[:MAX_LABEL])] = n
    # every verdict of every scope swept, zeros included, so `> 0` alerts always have a series
    scopes = sorted({s for s, _ in counts} | ({str(Scope.POD)} if counts else set()))
    for scope in scopes:
        for verdict in sorted({str(v) for v in Verdict} | {v for s, v in counts if s == scope}):
            results.add_metric([scope, verdict], counts.get((scope, verdict), 0))
    yield results

    simple = (
        ("probes", "Probes in the last sweep.", info.get("probes")),
        ("agents", "Agents the last sweep ran.", info.get("agents")),
        ("reprobed", "Mismatching probes the last sweep probed again.", info.get("reprobed")),
        ("duration_seconds", "Wall time of the last sweep.", info.get("wall_s")),
        ("exit_code", "Exit status of the last sweep (0 ok, 1 unexpected, 3 incomplete).", info.get("exit_code")),
        ("complete", "1 when the last sweep completed, 0 when it stopped early.", info.get("complete")),
        ("last_run_timestamp_seconds", "When the last sweep finished (Unix time).", finished_at),
    )
    for name, help_text, value in simple:
        if isinstance(value, (bool, int, float)):
            family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text)
            family.add_metric([], float(value))
            yield family

    if drift is not None:
        cells = GaugeMetricFamily(
            f"{PREFIX}_drift_cells", "Cells that changed since the baseline, per kind of change.", labels=["change"]
        )
        for change, n in drift.counts.items():
            cells.add_metric([change], n)
        yield cells
        unmeasured = GaugeMetricFamily(
            f"{PREFIX}_drift_unmeasured_cells", "Cells not compared with the baseline: one run did not measure."
        )
        unmeasured.add_metric([], drift.unmeasured)
        yield unmeasured

    for key, name, help_text in (
        ("exposure", "exposure_results", "Exposure results of the last sweep per severity."),
        ("audit", "audit_findings", "Audit findings of the swept snapshot per severity."),
    ):
        severities = _severities(info.get(key))
        if severities:
            family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["severity"])
            for severity, n in sorted(severities.items()):
                family.add_metric([severity], n)
            yield family

    coverage = info.get("coverage")
    if isinstance(coverage, Mapping):
        for key in ("cells_total", "cells_probed", "class_pairs_total", "class_pairs_probed"):
            value = coverage.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                family = GaugeMetricFamily(f"{PREFIX}_coverage_{key}", f"Coverage of the last sweep: {key}.")
                family.add_metric([], float(value))
                yield family


def render_metrics(info: Mapping[str, Any], drift: Any = None, *, finished_at: float) -> str:
    """OpenMetrics text (ends with ``# EOF``)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest

    class _Sweep:
        def collect(self) -> Iterator[Any]:
            return metric_families(info, drift, finished_at=finished_at)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Sweep())
    text: bytes = generate_latest(registry)  # type: ignore[no-untyped-call]
    return text.decode("utf-8")


def check_metrics_path(path: str) -> None:
    """Fail before sweeping when the metrics file could not be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--metrics-file {path}: is a directory (give a file name, e.g. kubereach.prom)")
    if not os.path.isdir(directory):
        raise UsageError(f"--metrics-file {path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"--metrics-file {path}: cannot write in {directory}")


def write_metrics(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file in the same directory, then
    rename); readable by the exporter (mode 0644)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubereach-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise UsageError(f"--metrics-file {path}: cannot write: {exc.strerror or exc}") from exc


__all__ = ["check_metrics_path", "metric_families", "render_metrics", "write_metrics"]
