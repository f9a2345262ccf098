"""Model invariants on random small clusters (hypothesis), and matrix == pairwise evaluation."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_helpers import build
from model_strategies import clusters, peer, rule

from orchestrator.model import Decision, Direction, PolicyModel, SideState, expected_matrix
from probe.schema import Protocol

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PORTS = [(80, Protocol.TCP), (53, Protocol.UDP), (9000, Protocol.SCTP), (75, Protocol.TCP)]


def decisions(snap, ports=PORTS):
    model = PolicyModel(snap)
    return {
        (s.key, d.key, p, pr): model.evaluate(s, d, p, pr).decision
        for s in snap.pods
        for d in snap.pods
        for p, pr in ports
    }


@SETTINGS
@given(clusters())
def test_matrix_equals_pairwise_evaluation_on_explicit_ports(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    rows = expected_matrix(snap, PORTS, model=model)
    assert len(rows) == len(snap.pods) ** 2 * len(PORTS)
    for r in rows:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason), r


@SETTINGS
@given(clusters())
def test_matrix_default_ports_are_each_destinations_declared_ports(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    rows = expected_matrix(snap, model=model)
    expected = {
        (s.key, d.key, cp.port, cp.protocol)
        for s in snap.pods
        for d in snap.pods
        for c in d.containers
        for cp in c.ports
    }
    assert {(r.source, r.destination, r.port, r.protocol) for r in rows} == expected
    assert len(rows) == len(expected)
    for r in rows:
        v = model.evaluate(model.pod(r.source), model.pod(r.destination), r.port, r.protocol)
        assert (r.decision, r.reason) == (v.decision, v.reason), r


@SETTINGS
@given(clusters())
def test_pod_selected_by_no_policy_is_reachable_from_every_pod(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    for dst in snap.pods:
        if any(model.selects(p, dst) for p in model.policies):
            continue
        for src in snap.pods:
            for port, proto in PORTS:
                v = model.evaluate(src, dst, port, proto)
                assert v.ingress.allowed
                if v.egress.state in (SideState.NOT_ISOLATED, SideState.HOST_NETWORK):
                    assert v.decision is Decision.ALLOW


@SETTINGS
@given(clusters(), st.data())
def test_adding_an_allow_rule_never_removes_an_allow(objs, data):
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    if not policies:
        return
    before = decisions(build(objs))
    grown = copy.deepcopy(objs)
    target = data.draw(st.sampled_from([o for o in grown if o["kind"] == "NetworkPolicy"]))
    spec = target["spec"]
    direction = data.draw(st.sampled_from(["ingress", "egress"]))
    types = spec.get("policyTypes")
    # only add where it cannot change isolation: an implied Egress type appears with the first egress rule
    if direction == "egress" and not types and not spec.get("egress"):
        spec["policyTypes"] = ["Ingress"]
        before = decisions(build(grown))
    spec.setdefault(direction, [])
    spec[direction] = list(spec[direction] or []) + [data.draw(rule("from" if direction == "ingress" else "to"))]
    after = decisions(build(grown))
    for key, decision in before.items():
        if decision is Decision.ALLOW:
            assert after[key] is Decision.ALLOW, key


@SETTINGS
@given(clusters(max_policies=0), st.lists(peer, min_size=2, max_size=3), st.sampled_from(["ingress", "egress"]))
def test_peers_of_one_rule_are_ored(objs, peers, direction):
    key = "from" if direction == "ingress" else "to"
    base = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    one = {**base, direction: [{key: peers}]}
    split = {**base, direction: [{key: [p]} for p in peers]}

    def with_spec(spec):
        return objs + [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "n1"},
                "spec": spec,
            }
        ]

    assert decisions(build(with_spec(one))) == decisions(build(with_spec(split)))


@SETTINGS
@given(clusters())
def test_a_pod_always_reaches_itself(objs):
    snap = build(objs)
    model = PolicyModel(snap)
    for p in snap.pods:
        assert model.evaluate(p, p, 80, Protocol.TCP).decision is Decision.ALLOW


def test_direction_enum_is_lowercase_for_reasons():
    assert str(Direction.INGRESS) == "ingress" and Direction.EGRESS.policy_type == "Egress"
