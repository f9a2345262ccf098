"""A pod always reaches itself; host-network pods are neither isolated nor selectable as pod peers."""

from __future__ import annotations

from model_helpers import build, cluster, ns, pod, verdict

from orchestrator.model import Decision, SideState
from orchestrator.model.verdict import SAME_POD_REASON

DENY_ALL = """
metadata: {name: deny, namespace: a}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""


def test_pod_reaches_itself_even_under_default_deny():
    v = verdict(cluster(DENY_ALL), "a/db", "a/db", 5432)
    assert v.decision is Decision.ALLOW and v.same_pod and v.reason == SAME_POD_REASON
    assert v.ingress.state is SideState.DENIED  # the sides still say what policy would do


def host_cluster(policy_yaml: str):
    objs = [
        ns("a"),
        pod("a", "hostpod", {"app": "web"}, "192.168.0.5", [(80, "TCP", "http")], host_network=True),
        pod("a", "web", {"app": "web"}, "10.0.0.1", [(80, "TCP", "http")]),
        pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", None)]),
    ]
    import yaml

    for d in yaml.safe_load_all(policy_yaml):
        objs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **d})
    return build(objs)


def test_host_network_pod_is_not_isolated_by_a_policy_selecting_its_labels():
    snap = host_cluster(DENY_ALL)
    v = verdict(snap, "a/db", "a/hostpod", 80)
    assert v.ingress.state is SideState.HOST_NETWORK
    assert "host-network pod" in v.reason
    out = verdict(snap, "a/hostpod", "a/web", 80)
    assert out.egress.state is SideState.HOST_NETWORK and out.decision is Decision.DENY  # web's ingress denies


def test_host_network_pod_is_not_matched_by_pod_selector_peers():
    snap = host_cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}, {namespaceSelector: {}}]}]
""")
    assert verdict(snap, "a/web", "a/db", 5432).decision is Decision.ALLOW
    assert verdict(snap, "a/hostpod", "a/db", 5432).decision is Decision.DENY


def test_host_network_pod_matched_by_absent_from():
    snap = host_cluster("""
metadata: {name: p, namespace: a}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{}]}
""")
    assert verdict(snap, "a/hostpod", "a/db", 5432).decision is Decision.ALLOW
