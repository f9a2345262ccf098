"""Selectors written for people: workload labels first, DoesNotExist when labels alone cannot tell."""

from __future__ import annotations

from posture_helpers import pod, snap

from orchestrator.audit.selection import LabelSel, select


def pods(*specs):
    s = snap([pod("a", name, labels, None, []) for name, labels in specs])
    return {p.name: p for p in s.pods}


def test_the_conventional_key_is_enough_and_per_replica_labels_are_never_used():
    p = pods(
        ("web-1", {"app": "web", "tier": "front", "pod-template-hash": "x1"}),
        ("web-2", {"app": "web", "tier": "front", "pod-template-hash": "x2"}),
        ("api", {"app": "api", "tier": "front"}),
    )
    choice = select([p["web-1"], p["web-2"]], [p["api"]])
    assert choice.selectors == (LabelSel.of({"app": "web"}),) and not choice.unresolved


def test_an_unlabelled_workload_is_told_apart_by_a_key_it_lacks():
    p = pods(("bare", {}), ("db", {"app": "db"}))
    (sel,) = select([p["bare"]], [p["db"]]).selectors
    assert sel.to_dict() == {"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}
    assert sel.matches(p["bare"].labels) and not sel.matches(p["db"].labels)
    assert LabelSel.from_dict(sel.to_dict()) == sel


def test_identical_labels_are_reported_not_guessed():
    p = pods(("a1", {"app": "a"}), ("a2", {"app": "a"}))
    choice = select([p["a1"]], [p["a2"]])
    assert choice.unresolved == (p["a1"],) and not choice.selectors


def test_nothing_to_avoid_selects_everything():
    p = pods(("x", {"app": "x"}))
    assert select([p["x"]], []).selectors == (LabelSel(),) and LabelSel().to_dict() == {}
