"""The data the report embeds: its golden form for a constructed run, the invariants that
make drill-downs right (heatmap slices, counts, round-trips), and hostile text kept inert."""

from __future__ import annotations

import json
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.reports.diff import diff_folders
from orchestrator.reports.html import build_report, extract_island, render_report
from orchestrator.reports.reportdata import (
    CLASSES,
    MAX_TEXT,
    NO_LATENCY,
    pack,
    report_data,
    three_digits,
    unpack,
    unpack_columns,
)
from orchestrator.reports.rundir import load_run
from tests.reports.golden import check_golden
from tests.reports.runs import row, write_run

SECTIONS = {
    "audit": [
        {
            "id": "KR001",
            "severity": "high",
            "title": "postgres open",
            "message": "m",
            "objects": ["NetworkPolicy/shop/p"],
            "fix": "kind: NetworkPolicy\n",
        },
        {"id": "KR009", "severity": "low", "title": "dead rule", "message": "m", "objects": [], "fix": None},
    ],
    "exposure": [{"source": "shop/web-1", "destination": "metadata", "severity": "critical", "evidence": "200"}],
    "coverage": {"mode": "classes", "cells_total": 100, "cells_probed": 12},
    "notes": ["a note"],
    "skipped": [{"what": "shop/web-1 -> service shop/db:5432/TCP", "reason": "backends disagree"}],
}


def demo_rows():
    intent = {"intended": "deny", "intent_verdict": "violation-open"}
    return [
        row(
            "shop/web-1",
            "shop/db-0",
            5432,
            expected="deny",
            observed="allow",
            reason="egress: not isolated; ingress: not isolated",
            **intent,
        ),
        row(
            "shop/web-1",
            "shop/api-1",
            8080,
            reason="ingress: allowed by shop/allow-web rule 0",
            intended="allow",
            intent_verdict="ok",
        ),
        row("shop/api-1", "shop/web-1", 8080, expected="deny", latency_ms=1000.4321),
        row("shop/web-2", "shop/api-1", 8080, observed="deny", latency_ms=1001.9),
        row(
            "ops/mon-0",
            "shop/api-1",
            8080,
            observed="inconclusive",
            latency_ms=None,
            reason="not measured: agent evicted",
        ),
        row("ops/mon-0", "shop/api-1", 9090, expected="deny"),
        row("shop/api-1/app", "shop/api-1/sidecar", 15001, scope="intra-pod", expected="deny", state="closed"),
        row("shop/api-1/sidecar", "shop/api-1/app", 8080, scope="intra-pod"),
        row("shop/web-1", "shop/api", 80, scope="service", reason="service -> backend shop/api-1:8080: allowed"),
    ]


def test_the_embedded_data_of_a_constructed_run_matches_its_golden_file(tmp_path):
    write_run(tmp_path / "r", demo_rows(), run=SECTIONS)
    data = report_data(load_run(str(tmp_path / "r")))
    check_golden("report-data.json", unpack_columns(data))


def test_the_page_carries_the_data_as_one_json_island_and_a_csp_that_forbids_remote_loads(tmp_path):
    write_run(tmp_path / "r", demo_rows(), run=SECTIONS)
    html = build_report(str(tmp_path / "r"))
    assert extract_island(html) == json.loads(json.dumps(report_data(load_run(str(tmp_path / "r")))))
    csp = html.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert csp.startswith("default-src &#39;none&#39;; script-src &#39;sha256-")
    assert "unsafe-inline" not in csp and "http" not in csp
    # nothing that would make a browser fetch: no src/href attributes, no URLs in code
    for needle in (" src=", " href=", "http://", "https://", "@import", "url("):
        assert needle not in html, needle
    # the summary is rendered without JavaScript too
    cells = "".join(f'<td class="num">{n}</td>' for n in (1, 2, 1, 1, 1, 6))
    assert f"<tr><th>pod</th>{cells}</tr>" in html


def test_with_a_drift_the_changed_rows_and_disappeared_cells_are_in_the_data(tmp_path):
    old = write_run(tmp_path / "old", [row("a/x", "a/y", expected="deny"), row("a/x", "a/gone")], pods=[])
    new = write_run(
        tmp_path / "new", [row("a/x", "a/y", expected="deny", observed="allow"), row("a/x", "a/new")], pods=[]
    )
    drift = diff_folders(str(old), str(new))
    data = unpack_columns(report_data(load_run(str(new)), drift))
    changes = {
        (data["names"][s], data["names"][d]): data["changes"][c - 1]
        for s, d, c in zip(
            data["rows"]["columns"]["src"],
            data["rows"]["columns"]["dst"],
            data["rows"]["columns"]["change"],
            strict=True,
        )
        if c
    }
    assert changes == {("a/x", "a/y"): "opened", ("a/x", "a/new"): "appeared"}
    assert data["drift"]["disappeared"] == [["a/x", "a/gone", "8080/TCP", "pod", "allow"]]
    assert data["drift"]["counts"] == {
        "opened": 1,
        "closed": 0,
        "expectation-changed": 0,
        "appeared": 1,
        "disappeared": 1,
    }
    (cell,) = data["heatmaps"][0]["cells"]
    assert cell[5] == 2  # changed rows in the cell: the page outlines it


def test_hostile_names_and_reasons_stay_text(tmp_path):
    evil = "</script><script>alert(1)</script><!--"
    write_run(
        tmp_path / "r",
        [row(f"a/{evil}", "a/y", reason=evil + "x" * 5000)],
        run={"context": evil, "audit": [{"title": evil, "severity": "high"}]},
    )
    html = build_report(str(tmp_path / "r"))
    assert evil not in html and "<script>alert" not in html
    data = extract_island(html)
    assert f"a/{evil}" in data["names"] and data["sections"]["audit"][0]["title"] == evil
    assert len(data["rows"]["strings"]["reason"][0]) == MAX_TEXT
    assert html.count("<script") == 2  # the island and the page's own script


def test_an_empty_run_renders(tmp_path):
    write_run(tmp_path / "r", [])
    data = extract_island(build_report(str(tmp_path / "r")))
    assert data["rows"]["count"] == 0 and data["heatmaps"] == [] and data["summary"]["scopes"] == []


def test_latencies_keep_three_significant_digits():
    got = three_digits([0.49749, 1000.4321, 12.3456, 0.0, float("nan"), -1.0, 0.0001234])
    assert got.tolist() == [497, 1000000, 12300, 0, NO_LATENCY, NO_LATENCY, 0]


@given(st.lists(st.integers(0, 2**32 - 2), max_size=300))
def test_pack_round_trips(values):
    import numpy as np

    assert unpack(pack(np.array(values, dtype=np.uint64))) == values


names = st.sampled_from(["a/p0", "a/p1", "b/p0", "b-c/p2", "c/p3"])
cells = st.tuples(
    names,
    names,
    st.sampled_from([80, 8080, 53]),
    st.sampled_from(["TCP", "UDP"]),
    st.sampled_from(["pod", "pod", "service", "intra-pod"]),
    st.sampled_from(["allow", "deny"]),
    st.sampled_from(["allow", "deny", "inconclusive"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(cells, max_size=40, unique_by=lambda c: c[:5]))
def test_every_row_is_in_the_data_once_and_heatmap_cells_slice_exactly_their_pod_pairs(tmp_path_factory, drawn):
    directory = tmp_path_factory.mktemp("r")
    rows = [
        row(s, d, p, protocol=pr, scope=sc, expected=e, observed=o, reason=f"r{i}")
        for i, (s, d, p, pr, sc, e, o) in enumerate(drawn)
    ]
    write_run(directory, rows)
    data = unpack_columns(report_data(load_run(str(directory))))
    col = data["rows"]["columns"]
    strings = data["rows"]["strings"]
    got = Counter(
        (
            data["names"][col["src"][i]],
            data["names"][col["dst"][i]],
            data["ports"][col["pp"][i]],
            data["summary"]["scopes"][col["scope"][i]],
            CLASSES[col["cls"][i]].name,
            strings["reason"][col["reason"][i]],
        )
        for i in range(data["rows"]["count"])
    )
    want = Counter(
        (
            r["source"],
            r["destination"],
            f"{r['port']}/{r['protocol']}",
            r["scope"],
            r["verdict"] if r["verdict"] != "ok" else f"ok-{'allowed' if r['observed'] == 'allow' else 'blocked'}",
            r["reason"],
        )
        for r in rows
    )
    assert got == want
    pod_rows = 0
    for heatmap in data["heatmaps"]:
        for src_ns, dst_ns, start, end, counts, _ in heatmap["cells"]:
            assert end > start and sum(counts) == end - start
            for i in range(start, end):
                assert data["summary"]["scopes"][col["scope"][i]] == "pod" and col["pp"][i] == heatmap["port"]
                assert data["names"][col["src"][i]].split("/")[0] == data["namespaces"][src_ns]
                assert data["names"][col["dst"][i]].split("/")[0] == data["namespaces"][dst_ns]
                assert CLASSES[col["cls"][i]].name in {c.name for k, c in enumerate(CLASSES) if counts[k]}
            pod_rows += end - start
    assert pod_rows == sum(1 for r in rows if r["scope"] == "pod")
    summary = {
        (s, CLASSES[k].name): n
        for s, counts in zip(data["summary"]["scopes"], data["summary"]["counts"], strict=True)
        for k, n in enumerate(counts)
        if n
    }
    assert sum(summary.values()) == len(rows)
    assert render_report(data)  # every drawn run renders
