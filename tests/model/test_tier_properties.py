"""Cluster policy tiers on random clusters (hypothesis): the fast matrix equals pairwise
evaluation, the order of manifests changes nothing, the v1alpha1 pair decides like the
ClusterNetworkPolicies it maps onto, and undefined/unknown only arise from their causes."""

from __future__ import annotations

import copy
import random
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_helpers import build
from model_strategies import _v1alpha1_rule, tiered_clusters

from orchestrator.model import Decision, PolicyModel, expected_matrix
from orchestrator.model.verdict import SAME_POD_REASON
from probe.schema import Protocol

# fewer examples than the NetworkPolicy-only invariants: each cluster here carries cluster
# policies and Nodes too, and the fast tier must stay quick on a shared 2-core machine
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PORTS = [(80, Protocol.TCP), (53, Protocol.UDP), (9000, Protocol.SCTP), (75, Protocol.TCP), (8080, Protocol.TCP)]


def same_rows(snap, ports):
    model = PolicyModel(snap)
    rows = expected_matrix(snap, ports, model=model)
    for r in rows:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason), r
    return rows


@SETTINGS
@given(tiered_clusters())
def test_matrix_equals_pairwise_evaluation_with_tiers_on_explicit_ports(objs):
    snap = build(objs)
    rows = same_rows(snap, PORTS)
    assert len(rows) == len(snap.pods) ** 2 * len(PORTS)


@SETTINGS
@given(tiered_clusters())
def test_matrix_equals_pairwise_evaluation_with_tiers_on_declared_ports(objs):
    same_rows(build(objs), None)


@SETTINGS
@given(tiered_clusters(max_cluster_policies=4), st.randoms(use_true_random=False))
def test_the_order_of_manifests_changes_nothing_not_even_the_reasons(objs, rnd):
    reference = sorted(expected_matrix(build(objs), PORTS))
    shuffled = copy.deepcopy(objs)
    rnd.shuffle(shuffled)
    assert sorted(expected_matrix(build(shuffled), PORTS)) == reference  # rows follow pod order: compare sorted


def _as_v1alpha1(obj: dict) -> dict | None:
    """An Admin-tier v1alpha2 ClusterNetworkPolicy as the AdminNetworkPolicy saying the same."""
    spec = obj["spec"]
    if obj["kind"] != "ClusterNetworkPolicy" or spec["tier"] != "Admin":
        return None
    subject = spec["subject"]
    ingress = [_v1alpha1_rule(r, False) for r in spec["ingress"]]
    egress = [_v1alpha1_rule(r, False) for r in spec["egress"]]
    if None in ingress + egress:
        return None
    return {
        "apiVersion": "policy.networking.k8s.io/v1alpha1",
        "kind": "AdminNetworkPolicy",
        "metadata": {"name": obj["metadata"]["name"]},
        "spec": {"priority": spec["priority"], "subject": subject, "ingress": ingress, "egress": egress},
    }


@SETTINGS
@given(tiered_clusters())
def test_an_admin_network_policy_decides_like_the_cluster_network_policy_it_maps_onto(objs):
    converted = [_as_v1alpha1(o) if o.get("apiVersion", "").startswith("policy.networking") else None for o in objs]
    if not any(converted):
        return
    old = [c if c is not None else o for o, c in zip(objs, converted, strict=True)]
    new_rows = expected_matrix(build(objs), PORTS)
    old_rows = expected_matrix(build(old), PORTS)
    assert [r.decision for r in new_rows] == [r.decision for r in old_rows]


@SETTINGS
@given(tiered_clusters(max_cluster_policies=4))
def test_undefined_needs_equal_priorities_and_unknown_needs_domain_names_or_missing_nodes(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    rows = expected_matrix(snap, PORTS, model=model)
    decisions = {r.decision for r in rows}
    if Decision.UNDEFINED in decisions:
        ranks = [(p.tier, p.rank) for p in model.cluster_policies]
        assert len(ranks) != len(set(ranks))
    if Decision.UNKNOWN in decisions:
        peers = {p.kind for pol in model.cluster_policies for r in pol.egress for p in r.peers}
        assert "domainNames" in peers or ("nodes" in peers and not snap.nodes)


@SETTINGS
@given(tiered_clusters())
def test_a_pod_always_reaches_itself_whatever_the_tiers_say(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    for p in snap.pods:
        v = model.evaluate(p, p, 80, Protocol.TCP)
        assert v.decision is Decision.ALLOW and v.reason == SAME_POD_REASON


@SETTINGS
@given(tiered_clusters())
def test_a_side_no_cluster_policy_selects_is_the_networkpolicy_side(objs):
    snap = build(objs)
    plain = build([o for o in objs if not o.get("apiVersion", "").startswith("policy.networking")])
    tiered, base = PolicyModel(snap), PolicyModel(plain)
    for src in snap.pods:
        for dst in snap.pods:
            if src.key == dst.key:
                continue
            v, w = tiered.evaluate(src, dst, 80, Protocol.TCP), base.evaluate(src, dst, 80, Protocol.TCP)
            for side, direction, pod in ((v.egress, w.egress, src), (v.ingress, w.ingress, dst)):
                admin, baseline = tiered.tier_policies(pod, side.direction)
                if not admin and not baseline:
                    assert side == direction


def test_reasons_do_not_depend_on_random_policy_names():
    """Policies of one priority group are listed by name: a tie names them in that order."""
    rnd = random.Random(7)
    for _ in range(5):
        names = rnd.sample(["alpha", "beta", "gamma", "delta"], 2)
        objs = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}},
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "a", "namespace": "n"},
                "spec": {"containers": [{"name": "c"}]},
                "status": {"podIP": "10.0.0.1"},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "b", "namespace": "n"},
                "spec": {"containers": [{"name": "c"}]},
                "status": {"podIP": "10.0.0.2"},
            },
        ]
        for name, action in zip(names, ["Accept", "Deny"], strict=True):
            objs.append(
                {
                    "apiVersion": "policy.networking.k8s.io/v1alpha2",
                    "kind": "ClusterNetworkPolicy",
                    "metadata": {"name": name},
                    "spec": {
                        "tier": "Admin",
                        "priority": 3,
                        "subject": {"namespaces": {}},
                        "ingress": [{"action": action, "from": [{"namespaces": {}}]}],
                    },
                }
            )
        model = PolicyModel(build(objs))
        v = model.evaluate(model.pod("n/a"), model.pod("n/b"), 80, Protocol.TCP)
        first, second = sorted(names)
        assert v.decision is Decision.UNDEFINED
        assert f"cnp/{first} and cnp/{second} have equal priority 3" in v.reason
