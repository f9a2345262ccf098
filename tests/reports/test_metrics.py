"""``sweep --metrics-file``: OpenMetrics both Prometheus parsers read, written atomically."""

from __future__ import annotations

import os
import stat

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

from orchestrator.errors import UsageError
from orchestrator.reports.diff import diff_folders
from orchestrator.reports.metrics import check_metrics_path, render_metrics, write_metrics
from tests.reports.runs import row, write_run

INFO = {
    "context": "prod",
    "versions": {"kubereach": "0.1.0"},
    "probes": 12,
    "agents": 3,
    "reprobed": 1,
    "wall_s": 4.5,
    "exit_code": 1,
    "complete": True,
    "verdicts": {"pod/ok": 9, "pod/unexpected-allow": 1, "intra-pod/ok": 2},
    "exposure": [{"severity": "critical"}, {"severity": "critical"}, {"severity": "low"}, {"no": "severity"}],
    "audit": {"findings": [{"severity": "high"}]},
    "coverage": {"mode": "classes", "cells_total": 400, "cells_probed": 40},
}


def samples(text: str, parse) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in parse(text) for s in family.samples}


@pytest.mark.parametrize("parse", [parse_openmetrics, parse_classic])
def test_every_figure_is_a_gauge_both_parsers_read(tmp_path, parse):
    a = write_run(tmp_path / "a", [row("a/x", "a/y", expected="deny"), row("a/x", "a/z")])
    b = write_run(tmp_path / "b", [row("a/x", "a/y", expected="deny", observed="allow")])
    text = render_metrics(INFO, diff_folders(str(a), str(b)), finished_at=1_700_000_000.0)
    assert text.endswith("# EOF\n")
    got = samples(text, parse)
    assert got[("kubereach_sweep_probe_results", (("scope", "pod"), ("verdict", "unexpected-allow")))] == 1
    assert got[("kubereach_sweep_probe_results", (("scope", "pod"), ("verdict", "unexpected-deny")))] == 0
    assert got[("kubereach_sweep_probe_results", (("scope", "intra-pod"), ("verdict", "inconclusive")))] == 0
    assert got[("kubereach_sweep_probes", ())] == 12 and got[("kubereach_sweep_agents", ())] == 3
    assert got[("kubereach_sweep_duration_seconds", ())] == 4.5 and got[("kubereach_sweep_exit_code", ())] == 1
    assert got[("kubereach_sweep_complete", ())] == 1
    assert got[("kubereach_sweep_last_run_timestamp_seconds", ())] == 1_700_000_000
    assert got[("kubereach_sweep_drift_cells", (("change", "opened"),))] == 1
    assert got[("kubereach_sweep_drift_cells", (("change", "disappeared"),))] == 1
    assert got[("kubereach_sweep_drift_unmeasured_cells", ())] == 0
    assert got[("kubereach_sweep_exposure_results", (("severity", "critical"),))] == 2
    assert got[("kubereach_sweep_audit_findings", (("severity", "high"),))] == 1
    assert got[("kubereach_sweep_coverage_cells_probed", ())] == 40
    assert got[("kubereach_sweep_info", (("context", "prod"), ("version", "0.1.0")))] == 1
    for family in parse(text):
        assert family.type == "gauge", family.name


def test_without_baseline_exposure_or_coverage_those_metrics_are_absent():
    text = render_metrics({"verdicts": {"pod/ok": 1}, "probes": 1}, None, finished_at=0.0)
    for absent in ("drift", "exposure", "audit", "coverage"):
        assert absent not in text


def test_the_file_is_replaced_atomically_readable_and_no_temporary_file_is_left(tmp_path):
    path = tmp_path / "kubereach.prom"
    path.write_text("old\n")
    write_metrics(str(path), "new\n# EOF\n")
    assert path.read_text() == "new\n# EOF\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["kubereach.prom"]


def test_an_unwritable_place_is_refused_before_the_sweep(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        check_metrics_path(str(tmp_path / "nope" / "k.prom"))
    with pytest.raises(UsageError, match="is a directory"):
        check_metrics_path(str(tmp_path))
    check_metrics_path(str(tmp_path / "k.prom"))
