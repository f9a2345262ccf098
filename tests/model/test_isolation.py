"""Isolation per direction: only policies selecting the pod, and only for their policyTypes."""

from __future__ import annotations

import pytest
from model_helpers import cluster, verdict

from orchestrator.model import Decision, Direction, RuleRef, SideState


def test_pod_selected_by_no_policy_is_reachable_from_every_pod(standard):
    for src in ("a/web", "a/db", "b/web", "b/api", "c/tool"):
        v = verdict(standard, src, "a/db", 5432)
        assert v.decision is Decision.ALLOW
        assert v.egress.state is SideState.NOT_ISOLATED and v.ingress.state is SideState.NOT_ISOLATED


def test_policy_types_absent_without_egress_isolates_ingress_only():
    snap = cluster("""
metadata: {name: deny, namespace: a}
spec: {podSelector: {}}
""")
    v = verdict(snap, "b/web", "a/db", 5432)
    assert v.decision is Decision.DENY
    assert v.ingress.state is SideState.DENIED and v.ingress.isolated_by == ("a/deny",)
    # egress of a/db is not isolated: no egress section, no policyTypes
    out = verdict(snap, "a/db", "b/web", 8080)
    assert out.decision is Decision.ALLOW and out.egress.state is SideState.NOT_ISOLATED


def test_policy_types_absent_with_egress_rules_isolates_both_directions():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  egress:
    - to: [{podSelector: {matchLabels: {app: web}}}]
""")
    assert verdict(snap, "a/db", "b/web", 8080).egress.state is SideState.DENIED
    ok = verdict(snap, "a/db", "a/web", 80)
    assert ok.decision is Decision.ALLOW and ok.egress.allowed_by == (RuleRef("a/p", Direction.EGRESS, 0),)
    # ingress isolated too (implied Ingress), and no ingress rules: nothing may enter
    v = verdict(snap, "a/web", "a/db", 5432)
    assert v.decision is Decision.DENY and v.ingress.state is SideState.DENIED


def test_empty_egress_list_without_policy_types_does_not_isolate_egress():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec: {podSelector: {}, egress: []}
""")
    assert verdict(snap, "a/db", "b/web", 8080).egress.state is SideState.NOT_ISOLATED


def test_egress_only_policy_leaves_ingress_open_and_ignores_ingress_rules():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]
  ingress: [{from: [{podSelector: {matchLabels: {app: nothing}}}]}]
""")
    v = verdict(snap, "b/web", "a/db", 5432)
    assert v.decision is Decision.ALLOW and v.ingress.state is SideState.NOT_ISOLATED
    assert verdict(snap, "a/db", "b/web", 8080).decision is Decision.DENY


def test_ingress_only_policy_ignores_its_egress_rules():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  egress: [{to: [{podSelector: {matchLabels: {app: nothing}}}]}]
""")
    assert verdict(snap, "a/db", "b/web", 8080).egress.state is SideState.NOT_ISOLATED


@pytest.mark.parametrize(
    "types,ingress_denied,egress_denied",
    [
        (["Ingress"], True, False),
        (["Egress"], False, True),
        (["Ingress", "Egress"], True, True),
    ],
)
def test_default_deny_per_policy_type(types, ingress_denied, egress_denied):
    snap = cluster(f"""
metadata: {{name: deny, namespace: a}}
spec: {{podSelector: {{}}, policyTypes: {types}}}
""")
    assert (verdict(snap, "b/web", "a/db", 5432).decision is Decision.DENY) == ingress_denied
    assert (verdict(snap, "a/db", "b/web", 8080).decision is Decision.DENY) == egress_denied


def test_both_directions_must_allow():
    snap = cluster("""
metadata: {name: out, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{}]
---
metadata: {name: in, namespace: b}
spec: {podSelector: {}, policyTypes: [Ingress]}
""")
    v = verdict(snap, "a/web", "b/web", 8080)
    assert v.egress.state is SideState.ALLOWED and v.egress.allowed_by == (RuleRef("a/out", Direction.EGRESS, 0),)
    assert v.ingress.state is SideState.DENIED and v.decision is Decision.DENY
    assert "ingress: isolated by b/in and no rule allows it" in v.reason


def test_policy_in_other_namespace_does_not_select_pods_with_same_labels():
    snap = cluster("""
metadata: {name: deny-web, namespace: b}
spec: {podSelector: {matchLabels: {app: web}}}
""")
    assert verdict(snap, "a/db", "a/web", 80).decision is Decision.ALLOW
    assert verdict(snap, "a/db", "b/web", 8080).decision is Decision.DENY


def test_policies_are_additive_any_rule_of_any_selecting_policy_allows():
    snap = cluster("""
metadata: {name: deny, namespace: a}
spec: {podSelector: {}}
---
metadata: {name: allow-web, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]
""")
    v = verdict(snap, "a/web", "a/db", 5432)
    assert v.decision is Decision.ALLOW
    assert v.ingress.isolated_by == ("a/allow-web", "a/deny")  # sorted by namespace/name
    assert v.ingress.allowed_by == (RuleRef("a/allow-web", Direction.INGRESS, 0),)
    assert v.reason == "egress: not isolated; ingress: allowed by a/allow-web ingress rule 0"
