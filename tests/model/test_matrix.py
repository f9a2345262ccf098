"""The expected matrix: which rows it contains, and that each equals the pairwise verdict."""

from __future__ import annotations

import pickle

from model_helpers import build, cluster

from orchestrator.model import Decision, ExpectedRow, PolicyModel, expected_matrix
from orchestrator.model.verdict import SAME_POD_REASON
from probe.schema import Protocol

POLICIES = """
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
metadata: {name: web-to-db, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: pg}]}]
---
metadata: {name: web-out, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}, {to: [{ipBlock: {cidr: 10.0.1.0/24}}]}]
"""


def test_default_rows_are_declared_ports_of_each_destination():
    snap = cluster(POLICIES)
    rows = expected_matrix(snap)
    assert all(isinstance(r, ExpectedRow) for r in rows)
    keys = {(r.destination, r.port, r.protocol) for r in rows}
    assert keys == {
        ("a/web", 80, Protocol.TCP),
        ("a/web", 53, Protocol.UDP),
        ("a/db", 5432, Protocol.TCP),
        ("a/db", 9000, Protocol.SCTP),
        ("b/web", 8080, Protocol.TCP),
        ("b/api", 443, Protocol.TCP),
    }
    assert len(rows) == 5 * 6  # 5 sources x 6 declared (destination, port) pairs
    by_key = {(r.source, r.destination, r.port): r for r in rows}
    ok = by_key[("a/web", "a/db", 5432)]
    assert ok.decision is Decision.ALLOW
    assert ok.reason == "egress: allowed by a/web-out egress rule 0; ingress: allowed by a/web-to-db ingress rule 0"
    assert by_key[("a/web", "a/db", 9000)].decision is Decision.DENY  # pg names 5432 only
    assert by_key[("a/web", "b/web", 8080)].reason.startswith("egress: allowed by a/web-out egress rule 1")
    assert by_key[("a/db", "a/db", 5432)].reason == SAME_POD_REASON


def test_explicit_ports_cover_every_destination_and_are_deduplicated():
    snap = cluster(POLICIES)
    rows = expected_matrix(snap, [(80, Protocol.TCP), (80, "TCP"), (53, Protocol.UDP)])
    assert len(rows) == 5 * 5 * 2
    model = PolicyModel(snap)
    for r in rows:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason)


def test_empty_snapshot_and_pods_without_ports():
    assert expected_matrix(build([])) == []
    snap = build(
        [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "n"},
                "spec": {"containers": [{"name": "c"}]},
            }
        ]
    )
    assert expected_matrix(snap) == []
    (row,) = expected_matrix(snap, [(80, Protocol.TCP)])
    assert row == ExpectedRow("n/p", "n/p", 80, Protocol.TCP, Decision.ALLOW, SAME_POD_REASON)


def test_rows_behave_like_expected_row_values():
    (row, *_) = expected_matrix(cluster(POLICIES), [(80, Protocol.TCP)])
    assert repr(row).startswith("ExpectedRow(")
    assert pickle.loads(pickle.dumps(row)) == row and row._replace(port=81).port == 81
    assert row._asdict()["source"] == row.source
