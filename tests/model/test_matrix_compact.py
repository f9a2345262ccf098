"""The compact expected matrix: a read-only sequence of ExpectedRow, and renderers that
stream from it giving exactly the text the plain row-by-row path gives."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_helpers import build, cluster, ns, pod
from model_strategies import clusters, tiered_clusters

from orchestrator.model import Decision, ExpectedRow, PolicyModel, expected_matrix
from orchestrator.model.matrix import ExpectedMatrix
from orchestrator.model.verdict import SAME_POD_REASON
from orchestrator.reports.predict import (
    Prediction,
    _csv_field,
    _row_dict,
    _tally,
    iter_csv,
    iter_json,
    iter_prediction_csv,
    render_csv,
    render_table,
)
from probe.schema import Protocol

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PORTS = [(80, Protocol.TCP), (53, Protocol.UDP), (9000, Protocol.SCTP)]

POLICIES = """
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: web-to-db, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: pg}]}]
---
metadata: {name: "web-out", namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}, {to: [{ipBlock: {cidr: 10.0.1.0/24}}]}]
"""


def old_json(prediction: Prediction) -> str:
    """render_json as it was before streaming: one json.dumps of the whole document."""
    doc = {
        "rows": [_row_dict(r, "pod") for r in prediction.rows]
        + [_row_dict(r, "intra-pod") for r in prediction.intrapod_rows],
        "findings": [
            {
                "pod": p,
                "code": str(f.code),
                "containers": list(f.containers),
                "message": f.message,
                "blocking": f.blocking,
            }
            for p, found in prediction.findings.items()
            for f in found
        ],
        "isolated": {
            p: {"ingress": list(i), "egress": list(e)} for p, (i, e) in prediction.isolation.items() if i or e
        },
        "skipped_kinds": dict(prediction.skipped_kinds),
        "pods": [
            {"pod": p, "kind": "Pod", "workload": None, "representative": False, "ips": [], "synthetic_ip": False}
            for p in prediction.pods
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def assert_same_text(matrix: ExpectedMatrix) -> None:
    rows = list(matrix)
    assert matrix == rows and rows == list(matrix)
    assert "".join(iter_csv(matrix, chunk_rows=7)) == render_csv(rows)
    intra = [("a/web/main", "a/web/side", 80, Protocol.TCP, Decision.DENY, 'intra-pod rule 0 (deny), "quoted"')]
    pods = sorted({r.source for r in rows})
    fast, plain = Prediction(pods, matrix, intra), Prediction(pods, rows, intra)
    assert "".join(iter_prediction_csv(fast)) == "".join(iter_prediction_csv(plain))
    assert "".join(iter_json(fast)) == old_json(plain) == "".join(iter_json(plain))
    assert _tally(matrix) == _tally(rows)
    assert render_table(fast, max_grid_pods=0) == render_table(plain, max_grid_pods=0)


def test_sequence_protocol_matches_the_list_of_rows():
    m = expected_matrix(cluster(POLICIES), PORTS)
    rows = list(m)
    assert isinstance(m, ExpectedMatrix) and len(m) == len(rows) == 5 * 5 * 3
    assert all(type(r).__name__ == "_Row" and isinstance(r, ExpectedRow) for r in rows)
    assert [m[i] for i in range(len(m))] == rows
    assert m[-1] == rows[-1] and m[3:40:7] == rows[3:40:7] and m[::-1] == rows[::-1]
    assert m.index(rows[17]) == 17 and rows[17] in m and m.count(rows[0]) == 1
    with pytest.raises(IndexError):
        m[len(m)]
    assert m != rows[:-1] and m != rows[::-1] and (m == "x") is False
    assert repr(m).startswith("<ExpectedMatrix 75 rows")


def test_order_is_port_then_source_then_destination_and_diagonal_is_same_pod():
    snap = cluster(POLICIES)
    keys = [p.key for p in snap.pods]
    rows = list(expected_matrix(snap, PORTS))
    assert [(r.port, r.protocol, r.source, r.destination) for r in rows] == [
        (p, pr, s, d) for p, pr in PORTS for s in keys for d in keys
    ]
    assert all((r.reason == SAME_POD_REASON) == (r.source == r.destination) for r in rows)


def test_empty_matrices_equal_empty_list_and_render_like_it():
    empty = expected_matrix(build([]))
    assert empty == [] and len(empty) == 0 and list(empty) == []
    assert render_csv(empty) == render_csv([]) == "source,destination,port,protocol,verdict,reason\n"
    assert "".join(iter_json(Prediction([], empty))) == old_json(Prediction([], []))


def test_declared_ports_subset_of_destinations_and_odd_pods_render_identically():
    # host-network pod, pod without IP (ipBlock note), several isolating policies (commas in reasons)
    objs = [
        ns("a"),
        ns("b"),
        pod("a", "web", {"app": "web"}, "10.0.0.1", [(80, "TCP", "http")]),
        pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", "pg"), (80, "TCP", None)]),
        pod("a", "noip", {"app": "db"}, None, [(5432, "TCP", "pg")]),
        pod("b", "host", {}, "192.0.2.9", [(9100, "TCP", None)], host_network=True),
        pod("b", "x", {"app": "x"}, "10.0.1.7", []),
    ]
    pols = """
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: deny2, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.1.0/24]}}], ports: [{port: pg}]}]
"""
    snap = cluster(pols, pods=objs)
    m = expected_matrix(snap)
    model = PolicyModel(snap)
    assert {(r.destination, r.port) for r in m} == {
        ("a/web", 80),
        ("a/db", 5432),
        ("a/db", 80),
        ("a/noip", 5432),
        ("b/host", 9100),
    }
    for r in m:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason)
    assert any("no pod IP" in r.reason for r in m) and any(", " in r.reason for r in m)
    assert_same_text(m)
    assert_same_text(expected_matrix(snap, PORTS))


@SETTINGS
@given(clusters())
def test_fast_renderers_equal_plain_renderers_on_random_clusters(objs):
    snap = build(objs)
    assert_same_text(expected_matrix(snap, PORTS))
    assert_same_text(expected_matrix(snap))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiered_clusters(max_cluster_policies=4))
def test_fast_renderers_equal_plain_renderers_with_tiers_undefined_and_unknown_included(objs):
    snap = build(objs)
    assert_same_text(expected_matrix(snap, PORTS))
    assert_same_text(expected_matrix(snap))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("a ,\"\r\n\t;\x1bé\\'x")), max_size=8))
def test_csv_field_quotes_exactly_like_csv_writer(text):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(("a", text, "b"))
    assert out.getvalue() == f"a,{_csv_field(text)},b\n"
