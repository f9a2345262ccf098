"""Ports: absent/empty = all, numeric, endPort ranges, named ports resolved on the destination pod,
protocol default TCP, UDP and SCTP."""

from __future__ import annotations

import pytest
from model_helpers import build, cluster, ns, pod, verdict

from orchestrator.model import Decision, Direction, PolicyModel, RuleRef


def db_ingress_ports(ports_yaml: str) -> str:
    return f"""
metadata: {{name: p, namespace: a}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress:
    - ports: {ports_yaml}
"""


@pytest.mark.parametrize(
    "ports,port,protocol,allowed",
    [
        ("[{port: 5432}]", 5432, "TCP", True),
        ("[{port: 5432}]", 5433, "TCP", False),
        ("[{port: 5432}]", 5432, "UDP", False),  # protocol defaults to TCP
        ("[{port: 5432, protocol: UDP}]", 5432, "UDP", True),
        ("[{port: 5432, protocol: UDP}]", 5432, "TCP", False),
        ("[{protocol: UDP}]", 1, "UDP", True),  # no port: every port of that protocol
        ("[{protocol: UDP}]", 1, "TCP", False),
        ("[{}]", 7, "TCP", True),  # protocol TCP, any port
        ("[{}]", 7, "SCTP", False),
        ("[{port: 9000, protocol: SCTP}]", 9000, "SCTP", True),
        ("[{port: 9000, protocol: SCTP}]", 9000, "TCP", False),
        ("[{port: 5000, endPort: 6000}]", 5000, "TCP", True),
        ("[{port: 5000, endPort: 6000}]", 6000, "TCP", True),
        ("[{port: 5000, endPort: 6000}]", 6001, "TCP", False),
        ("[{port: 5000, endPort: 6000}]", 4999, "TCP", False),
        ("[{port: 5000, endPort: 5000}]", 5000, "TCP", True),
        ("[{port: 1, endPort: 100}, {port: 5432}]", 5432, "TCP", True),  # ports OR-ed
        ("[]", 12345, "UDP", True),  # empty list == absent: all ports, all protocols
        ("[{port: pg}]", 5432, "TCP", True),  # named port of the destination
        ("[{port: pg}]", 5433, "TCP", False),
        ("[{port: pg, protocol: UDP}]", 5432, "UDP", False),  # name matches but protocol differs
        ("[{port: sig, protocol: SCTP}]", 9000, "SCTP", True),
        ("[{port: sig}]", 9000, "SCTP", False),  # named port with default TCP vs SCTP container port
    ],
)
def test_ingress_port_table(ports, port, protocol, allowed):
    snap = cluster(db_ingress_ports(ports))
    v = verdict(snap, "a/web", "a/db", port, protocol)
    assert (v.decision is Decision.ALLOW) is allowed
    if allowed:
        assert v.ingress.allowed_by == (RuleRef("a/p", Direction.INGRESS, 0),)


def test_absent_ports_allow_every_port_and_protocol():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {}}]}]}
""")
    for port, proto in ((1, "TCP"), (65535, "UDP"), (9000, "SCTP")):
        assert verdict(snap, "a/web", "a/db", port, proto).decision is Decision.ALLOW


def test_named_port_in_ingress_resolves_per_selected_pod():
    # two selected pods declare "http" on different numbers: each resolves on its own
    snap = cluster("""
metadata: {name: p, namespace: b}
spec:
  podSelector: {}
  ingress: [{ports: [{port: http}]}]
""")
    assert verdict(snap, "a/web", "b/web", 8080).decision is Decision.ALLOW
    assert verdict(snap, "a/web", "b/web", 80).decision is Decision.DENY
    assert verdict(snap, "a/web", "b/api", 8080).decision is Decision.DENY  # api declares no "http"


def test_named_port_in_egress_resolves_on_destination_pod_not_source():
    # a/web declares http=80; the egress rule's "http" must resolve on each destination
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}]}]
""")
    v = verdict(snap, "a/web", "b/web", 8080)
    assert v.decision is Decision.ALLOW and v.egress.allowed_by == (RuleRef("a/p", Direction.EGRESS, 0),)
    assert verdict(snap, "a/web", "b/web", 80).decision is Decision.DENY  # 80 is the source's http
    assert verdict(snap, "a/web", "b/api", 443).decision is Decision.DENY  # no "http" on b/api


def test_named_port_undeclared_on_destination_never_matches():
    snap = cluster(db_ingress_ports("[{port: http}]"))
    for port in (80, 5432, 8080):
        assert verdict(snap, "a/web", "a/db", port).decision is Decision.DENY


def test_evaluate_named_resolves_the_number_on_the_destination():
    snap = cluster(db_ingress_ports("[{port: 5432}]"))
    model = PolicyModel(snap)
    v = model.evaluate_named(model.pod("a/web"), model.pod("a/db"), "pg")
    assert v.port == 5432 and v.decision is Decision.ALLOW
    with pytest.raises(ValueError, match="no TCP port named"):
        model.evaluate_named(model.pod("a/web"), model.pod("a/db"), "nope")


def test_named_port_shared_name_across_containers_matches_each_number():
    objs = [
        ns("a"),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "multi", "namespace": "a", "labels": {"x": "y"}},
            "spec": {
                "containers": [
                    {"name": "one", "ports": [{"name": "metrics", "containerPort": 9090}]},
                    {"name": "two", "ports": [{"name": "metrics", "containerPort": 9091}]},
                ]
            },
        },
        pod("a", "src", {"app": "src"}, "10.0.0.5"),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {"podSelector": {"matchLabels": {"x": "y"}}, "ingress": [{"ports": [{"port": "metrics"}]}]},
        },
    ]
    snap = build(objs)
    assert verdict(snap, "a/src", "a/multi", 9090).decision is Decision.ALLOW
    assert verdict(snap, "a/src", "a/multi", 9091).decision is Decision.ALLOW
    assert verdict(snap, "a/src", "a/multi", 9092).decision is Decision.DENY
