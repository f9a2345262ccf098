"""Peers: podSelector (own namespace), namespaceSelector, both in one peer (AND), separate peers (OR),
empty and absent ``from``/``to``, and the implied kubernetes.io/metadata.name label."""

from __future__ import annotations

import pytest
from model_helpers import cluster, verdict

from orchestrator.model import Decision, Direction, RuleRef, SideState

ALL = ("a/web", "a/db", "b/web", "b/api", "c/tool")


def allowed_sources(snap, dst="a/db", port=5432):
    return {s for s in ALL if s != dst and verdict(snap, s, dst, port).decision is Decision.ALLOW}


def ingress_to_db(rule_yaml: str) -> str:
    return f"""
metadata: {{name: p, namespace: a}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  policyTypes: [Ingress]
  ingress:
{rule_yaml}
"""


@pytest.mark.parametrize(
    "rule,expected",
    [
        # podSelector alone: pods of the policy's own namespace only
        ("    - from: [{podSelector: {matchLabels: {app: web}}}]", {"a/web"}),
        # empty podSelector alone: every pod of the policy's namespace
        ("    - from: [{podSelector: {}}]", {"a/web"}),
        # namespaceSelector alone: every pod of matching namespaces
        ("    - from: [{namespaceSelector: {matchLabels: {team: blue}}}]", {"b/web", "b/api"}),
        # empty namespaceSelector: every pod of every namespace
        ("    - from: [{namespaceSelector: {}}]", {"a/web", "b/web", "b/api", "c/tool"}),
        # both in ONE peer: AND
        (
            "    - from: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {app: web}}}]",
            {"b/web"},
        ),
        # empty namespaceSelector AND podSelector: that app in any namespace
        ("    - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]", {"a/web", "b/web"}),
        # two peers: OR
        (
            "    - from: [{namespaceSelector: {matchLabels: {team: blue}}}, {podSelector: {matchLabels: {app: web}}}]",
            {"a/web", "b/web", "b/api"},
        ),
        # the implied namespace name label, also for a namespace with no Namespace object
        ("    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: c}}}]", {"c/tool"}),
        # absent from: every source; ``ingress: [{}]`` allows all
        ("    - ports: [{port: 5432}]", set(ALL) - {"a/db"}),
        ("    - {}", set(ALL) - {"a/db"}),
        # empty from list == absent
        ("    - from: []", set(ALL) - {"a/db"}),
    ],
)
def test_ingress_peer_table(rule, expected):
    snap = cluster(ingress_to_db(rule))
    assert allowed_sources(snap) == expected


def test_ingress_empty_list_allows_nothing():
    snap = cluster("""
metadata: {name: p, namespace: a}
spec: {podSelector: {matchLabels: {app: db}}, ingress: []}
""")
    assert allowed_sources(snap) == set()


def test_peers_are_ored_and_reason_names_the_rule_that_matched():
    snap = cluster(
        ingress_to_db("""    - from: [{podSelector: {matchLabels: {app: nope}}}]
    - from: [{namespaceSelector: {matchLabels: {team: blue}}}]""")
    )
    v = verdict(snap, "b/api", "a/db", 5432)
    assert v.decision is Decision.ALLOW
    assert v.ingress.allowed_by == (RuleRef("a/p", Direction.INGRESS, 1),)


def test_every_allowing_rule_is_reported_first_one_in_reason():
    snap = cluster(
        ingress_to_db("""    - from: [{namespaceSelector: {}}]
    - {}""")
    )
    v = verdict(snap, "b/api", "a/db", 5432)
    assert v.ingress.allowed_by == (RuleRef("a/p", Direction.INGRESS, 0), RuleRef("a/p", Direction.INGRESS, 1))
    assert v.reason.endswith("ingress: allowed by a/p ingress rule 0")


@pytest.mark.parametrize(
    "rule,expected",
    [
        ("    - to: [{podSelector: {matchLabels: {app: web}}}]", {"a/web"}),
        ("    - to: [{namespaceSelector: {matchLabels: {team: blue}}}]", {"b/web", "b/api"}),
        (
            "    - to: [{namespaceSelector: {matchLabels: {team: blue}}, podSelector: {matchLabels: {app: api}}}]",
            {"b/api"},
        ),
        ("    - {}", {"a/web", "b/web", "b/api", "c/tool"}),
    ],
)
def test_egress_peer_table(rule, expected):
    snap = cluster(f"""
metadata: {{name: p, namespace: a}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  policyTypes: [Egress]
  egress:
{rule}
""")
    reached = set()
    for dst, port in (("a/web", 80), ("b/web", 8080), ("b/api", 443), ("c/tool", 1234)):
        v = verdict(snap, "a/db", dst, port)
        assert v.ingress.state is SideState.NOT_ISOLATED
        if v.decision is Decision.ALLOW:
            reached.add(dst)
    assert reached == expected


def test_namespace_labels_come_from_namespace_object_not_pod():
    snap = cluster(ingress_to_db("    - from: [{namespaceSelector: {matchLabels: {app: web}}}]"))
    assert allowed_sources(snap) == set()
