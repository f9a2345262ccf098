"""ipBlock: cidr and except, IPv4 and IPv6, matched against pod IPs; pods without an IP never match."""

from __future__ import annotations

import pytest
from model_helpers import build, cluster, ns, pod, verdict

from orchestrator.model import Decision, Direction, PolicyModel, RuleRef, SideState


def db_from_block(block_yaml: str) -> str:
    return f"""
metadata: {{name: p, namespace: a}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  ingress: [{{from: [{{ipBlock: {block_yaml}}}]}}]
"""


@pytest.mark.parametrize(
    "block,src,allowed",
    [
        ("{cidr: 10.0.0.0/16}", "a/web", True),  # applies to pod IPs, in any namespace
        ("{cidr: 10.0.0.0/16}", "b/web", True),
        ("{cidr: 10.0.0.0/16}", "b/api", False),  # IPv6 pod vs IPv4 block
        ("{cidr: 10.0.1.0/24}", "a/web", False),
        ("{cidr: 10.0.0.0/16, except: [10.0.1.0/24]}", "b/web", False),
        ("{cidr: 10.0.0.0/16, except: [10.0.1.0/24]}", "c/tool", True),
        ("{cidr: 10.0.0.1/32}", "a/web", True),
        ("{cidr: 0.0.0.0/0, except: [10.0.0.1/32]}", "a/web", False),
        ("{cidr: 'fd00::/64'}", "b/api", True),
        ("{cidr: 'fd00::/64', except: ['fd00::/120']}", "b/api", False),
        ("{cidr: '::/0'}", "a/web", False),
    ],
)
def test_ingress_ip_block_table(block, src, allowed):
    snap = cluster(db_from_block(block))
    v = verdict(snap, src, "a/db", 5432)
    assert (v.decision is Decision.ALLOW) is allowed
    if allowed:
        assert v.ingress.allowed_by == (RuleRef("a/p", Direction.INGRESS, 0),)


def test_egress_ip_block_matches_destination_pod_ip():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.1.0/24}}], ports: [{port: 8080}]}]
""")
    assert verdict(snap, "a/web", "b/web", 8080).decision is Decision.ALLOW
    assert verdict(snap, "a/web", "a/db", 5432).decision is Decision.DENY


def test_pod_without_ip_never_matches_ip_block_and_reason_says_so():
    objs = [
        ns("a"),
        pod("a", "pending", {"app": "x"}),
        pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", None)]),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        },
    ]
    v = verdict(build(objs), "a/pending", "a/db", 5432)
    assert v.decision is Decision.DENY and v.ingress.state is SideState.DENIED
    assert "the source has no pod IP, so no ipBlock can match it" in v.ingress.note
    assert "no pod IP" in v.reason


def test_ip_block_matches_host_network_pod_by_its_node_ip():
    objs = [
        ns("a"),
        pod("a", "node-agent", {"app": "agent"}, "192.168.1.10", host_network=True),
        pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", None)]),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.1.0/24"}}]}],
            },
        },
    ]
    assert verdict(build(objs), "a/node-agent", "a/db", 5432).decision is Decision.ALLOW


def test_evaluate_to_ip_uses_only_ip_blocks_and_numeric_ports():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]
      ports: [{port: 443}]
    - to: [{podSelector: {}}]
""")
    model = PolicyModel(snap)
    web = model.pod("a/web")
    ok = model.evaluate_to_ip(web, "203.0.113.7", 443)
    assert ok.state is SideState.ALLOWED and ok.allowed_by == (RuleRef("a/p", Direction.EGRESS, 0),)
    assert model.evaluate_to_ip(web, "203.0.113.200", 443).state is SideState.DENIED
    assert model.evaluate_to_ip(web, "203.0.113.7", 80).state is SideState.DENIED
    assert model.evaluate_to_ip(model.pod("a/db"), "203.0.113.7", 80).state is SideState.NOT_ISOLATED
