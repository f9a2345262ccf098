"""Label selectors: matchLabels and every matchExpressions operator, absent keys included."""

from __future__ import annotations

import pytest
from model_helpers import build, ns, pod, verdict

from orchestrator.model import Decision, Direction, RuleRef
from orchestrator.model.selectors import compile_selector


@pytest.mark.parametrize(
    "selector,labels,expected",
    [
        ({}, {}, True),
        (None, {"a": "1"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        ({"matchLabels": {"app": "web", "tier": "fe"}}, {"app": "web"}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "db"]}]}, {"app": "db"}, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]}, {}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {"app": "db"}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {"app": "web"}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, {}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "x"}, False),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]},
            {"app": "web", "tier": "be"},
            False,
        ),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]},
            {"app": "web", "tier": "fe"},
            True,
        ),
    ],
)
def test_selector_truth_table(selector, labels, expected):
    assert compile_selector(selector, "sel").matches(labels) is expected


@pytest.mark.parametrize(
    "operator,values,allowed_from",
    [
        ("In", ["web"], {"a/web"}),
        ("NotIn", ["web"], {"a/db", "a/plain"}),
        ("Exists", None, {"a/web", "a/db"}),
        ("DoesNotExist", None, {"a/plain"}),
    ],
)
def test_pod_selector_operators_in_ingress_peer(operator, values, allowed_from):
    expr = {"key": "app", "operator": operator}
    if values is not None:
        expr["values"] = values
    objs = [
        ns("a"),
        pod("a", "web", {"app": "web"}, "10.0.0.1"),
        pod("a", "db", {"app": "db"}, "10.0.0.2"),
        pod("a", "plain", {}, "10.0.0.3"),
        pod("a", "target", {"role": "t"}, "10.0.0.9", [(80, "TCP", None)]),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {
                "podSelector": {"matchLabels": {"role": "t"}},
                "ingress": [{"from": [{"podSelector": {"matchExpressions": [expr]}}]}],
            },
        },
    ]
    snap = build(objs)
    for src in ("a/web", "a/db", "a/plain"):
        v = verdict(snap, src, "a/target", 80)
        assert (v.decision is Decision.ALLOW) == (src in allowed_from), src
        if src in allowed_from:
            assert v.ingress.allowed_by == (RuleRef("a/p", Direction.INGRESS, 0),)


def test_policy_pod_selector_with_not_in_selects_pods_without_the_key():
    objs = [
        ns("a"),
        pod("a", "nolabel", {}, "10.0.0.1", [(80, "TCP", None)]),
        pod("a", "web", {"app": "web"}, "10.0.0.2", [(80, "TCP", None)]),
        pod("a", "src", {"app": "src"}, "10.0.0.3"),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "a"},
            "spec": {
                "podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web", "src"]}]}
            },
        },
    ]
    snap = build(objs)
    assert verdict(snap, "a/src", "a/nolabel", 80).ingress.isolated_by == ("a/p",)
    assert verdict(snap, "a/src", "a/web", 80).decision is Decision.ALLOW
