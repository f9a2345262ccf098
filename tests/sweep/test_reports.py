"""Reports: exact probes.csv columns, matrices per port, summary with the unexpected rows first."""

from __future__ import annotations

import csv
import io
import json

from orchestrator.reports.sweep import (
    default_results_dir,
    render_json,
    render_matrices,
    render_probes_csv,
    render_summary,
)
from orchestrator.sweep.compare import Decision, Expectation, Observation, compare
from orchestrator.sweep.plan import PlanOptions, Skipped, build_plan
from probe.schema import ProbeState
from tests.sweep.conftest import pod_yaml, snapshot_from

CONTRACT = ["source", "destination", "port", "protocol", "scope", "expected", "observed", "state", "verdict"]


def sample_rows():
    snap = snapshot_from([pod_yaml("a", f"p{i}", {"app": f"p{i}"}, f"10.0.0.{i + 1}", (80, 443)) for i in range(3)])
    plan = build_plan(snap, PlanOptions())
    exp = {j.id: Expectation(Decision.DENY if j.destination == "a/p2" else Decision.ALLOW, "why") for j in plan.jobs}
    obs = {j.id: Observation(ProbeState.OPEN, "connected", 1.25) for j in plan.jobs}
    obs[plan.jobs[0].id] = Observation(ProbeState.ERROR, "deadline", detail="pod gone")
    return snap, compare(plan.jobs, exp, obs)


def test_probes_csv_starts_with_exactly_the_contract_columns_then_evidence():
    _, rows = sample_rows()
    reader = csv.DictReader(io.StringIO(render_probes_csv(rows)))
    assert reader.fieldnames[:9] == CONTRACT
    assert reader.fieldnames[9:] == ["evidence", "latency_ms", "reason", "confirmed"]
    records = list(reader)
    assert len(records) == len(rows) == 12
    first = records[0]
    assert (first["source"], first["destination"], first["port"], first["protocol"], first["scope"]) == (
        "a/p0",
        "a/p1",
        "80",
        "TCP",
        "pod",
    )
    assert (first["observed"], first["state"], first["verdict"]) == ("inconclusive", "error", "inconclusive")
    holes = [r for r in records if r["verdict"] == "unexpected-allow"]
    assert {r["destination"] for r in holes} == {"a/p2"} and len(holes) == 4


def test_matrices_one_set_per_port_with_sources_as_rows():
    _, rows = sample_rows()
    files = render_matrices(rows)
    assert sorted(files) == sorted(
        f"matrix-{p}-tcp-{k}.csv" for p in (80, 443) for k in ("expected", "observed", "diff")
    )
    diff = list(csv.reader(io.StringIO(files["matrix-80-tcp-diff.csv"])))
    assert diff[0] == ["source\\destination", "a/p0", "a/p1", "a/p2"]
    assert diff[1] == ["a/p0", "", "inconclusive", "unexpected-allow"]
    assert diff[2] == ["a/p1", "ok", "", "unexpected-allow"]
    expected = list(csv.reader(io.StringIO(files["matrix-443-tcp-expected.csv"])))
    assert expected[3] == ["a/p2", "allow", "allow", ""]


def test_summary_counts_per_verdict_and_lists_unexpected_rows_before_inconclusive():
    _, rows = sample_rows()
    text = render_summary(
        rows, title="T", skipped=[Skipped("a/x", "no pod IP yet")], notes=["n1"], exit_code=1, results_dir="results/x"
    )
    assert text.index("Unexpected (4)") < text.index("Inconclusive (1)") < text.index("Not probed (1)")
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split() == ["total", "4", "0", "1", "7", "12"]
    assert "Exit status 1: unexpected rows found" in text and "Results: results/x" in text


def test_summary_with_intrapod_rows_has_a_line_per_scope(demo_snapshot):
    plan = build_plan(demo_snapshot, PlanOptions())
    rows = compare(
        plan.jobs,
        {j.id: Expectation(Decision.ALLOW, "") for j in plan.jobs},
        {j.id: Observation(ProbeState.OPEN) for j in plan.jobs},
    )
    lines = render_summary(rows, title="T").splitlines()
    assert any(line.startswith("pod ") for line in lines) and any(line.startswith("intra-pod") for line in lines)


def test_snapshot_json_is_plain_json(demo_snapshot):
    data = json.loads(render_json(demo_snapshot))
    assert {p["name"] for p in data["pods"]} >= {"api-1", "postgres-0"}
    assert data["namespaces"]["shop-data"]["labels"]["kubernetes.io/metadata.name"] == "shop-data"


def test_default_results_dir_is_utc_time_then_context():
    assert default_results_dir("20261122T140000Z", "kind-dev/admin@x") == "results/20261122T140000Z-kind-dev_admin_x"


def test_summary_truth_table_uses_cyclonus_glyphs():
    _, rows = sample_rows()
    text = render_summary(rows, title="T")
    header = next(line for line in text.splitlines() if line.startswith("from \\ to"))
    assert header.split()[3:] == ["1:80", "1:443", "2:80", "2:443", "3:80", "3:443"]
    p0 = next(line for line in text.splitlines() if line.startswith("a/p0 "))
    assert p0.split()[1:] == ["-", "-", "?", ".", "!", "!"]
    assert "  3: a/p2" in text and "'!' unexpected" in text
    # the unexpected rows come first, right after the counts; the table is the overview
    assert text.index("Unexpected (4)") < text.index("from \\ to") < text.index("Inconclusive (1)")


def test_no_truth_table_when_it_would_not_fit_a_terminal():
    from orchestrator.reports.sweep import render_glyph_matrix

    snap = snapshot_from([pod_yaml("a", f"p{i}", {"app": f"p{i}"}, f"10.0.0.{i + 1}", (80,)) for i in range(32)])
    plan = build_plan(snap, PlanOptions())
    rows = compare(
        plan.jobs,
        {j.id: Expectation(Decision.ALLOW, "") for j in plan.jobs},
        {j.id: Observation(ProbeState.OPEN) for j in plan.jobs},
    )
    assert render_glyph_matrix(rows) == ""


def test_junit_fails_unexpected_rows_and_errors_inconclusive_ones():
    import xml.etree.ElementTree as ET

    from orchestrator.reports.sweep import render_junit

    _, rows = sample_rows()
    root = ET.fromstring(render_junit(rows, name="kr"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "4", "1")
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert {c.find("failure").get("type") for c in failed} == {"unexpected-allow"}
    assert all("-> a/p2 " in c.get("name") for c in failed)
    assert "expected deny, observed allow (open: connected)" in failed[0].find("failure").text
    [err] = root.findall(".//testcase/error")
    assert "pod gone" in err.text


def test_the_summary_says_how_the_sweep_ended_and_why_each_inconclusive_row_did_not_measure():
    from orchestrator.sweep.ending import EndCause, Ending

    snap = snapshot_from([pod_yaml("a", f"p{i}", {"app": f"p{i}"}, f"10.0.0.{i + 1}", (80,)) for i in range(2)])
    plan = build_plan(snap, PlanOptions())
    long_reason = "egress: allowed by a/a-policy-with-a-rather-long-name egress rule 0; ingress: not isolated"
    exp = {j.id: Expectation(Decision.ALLOW, long_reason) for j in plan.jobs}
    message = "cannot reach the API server at x: connection refused"
    ending = Ending(EndCause.API_UNREACHABLE, "connection refused", message)
    obs = {j.id: Observation(ProbeState.ERROR, "api-unreachable", detail=ending.unfinished()) for j in plan.jobs}
    rows = compare(plan.jobs, exp, obs)
    assert rows[0].reason.endswith("; not measured: api-unreachable: connection refused")  # probes.csv: all of it
    text = render_summary(rows, title="T", complete=False, ended=ending.sentence())
    assert "not measured: api-unreachable: connection refused; egress: allowed by" in text  # the cause first
    assert "Ended: api-unreachable: cannot reach the API server at x: connection refused" in text
