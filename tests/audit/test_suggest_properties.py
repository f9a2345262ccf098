"""``suggest`` followed by the model yields the intent, on random clusters and random intents.

Everything is checked against references that do not share the planner's code: the
expected matrix (itself property-tested against pairwise evaluation) before and after
the suggested policies, and the intent's cell-by-cell evaluation (``IntentIndex.cell``,
the rule loop, not the bitset rows the planner uses).
"""

from __future__ import annotations

import copy
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_strategies import clusters

from orchestrator.audit.intent import Intended, IntentIndex, parse_intent
from orchestrator.audit.suggest import suggest
from orchestrator.model import PolicyModel, expected_matrix
from orchestrator.snapshot import Origin, snapshot_from_objects

NAMESPACES = ["n1", "n2", "n3"]
endpoint = st.one_of(
    st.just("*"),
    st.sampled_from([f"{n}/*" for n in NAMESPACES]),
    st.builds(lambda n, i: f"{n}/p{i}", st.sampled_from(NAMESPACES), st.integers(0, 5)),
    st.builds(lambda n: {"namespace": n}, st.sampled_from(NAMESPACES)),
    st.builds(lambda v: {"podSelector": {"matchLabels": {"app": v}}}, st.sampled_from(["a", "b", "c"])),
    st.builds(
        lambda t, v: {"namespaceSelector": {"matchLabels": {"team": t}}, "podSelector": {"matchLabels": {"tier": v}}},
        st.sampled_from(["x", "y"]),
        st.sampled_from(["a", "b"]),
    ),
)
# selectors only, never a single pod: replicas (pods with identical labels) are treated alike
label_endpoint = st.one_of(
    st.just("*"),
    st.sampled_from([f"{n}/*" for n in NAMESPACES]),
    st.builds(lambda n: {"namespace": n}, st.sampled_from(NAMESPACES)),
    st.builds(lambda v: {"podSelector": {"matchLabels": {"app": v}}}, st.sampled_from(["a", "b", "c"])),
    st.builds(
        lambda v: {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": [v]}]}},
        st.sampled_from(["a", "b"]),
    ),
)
ports = st.one_of(
    st.none(),
    st.lists(st.sampled_from([80, "53/UDP", "http", "dns", "50-100/TCP", 443, "9000/SCTP"]), min_size=1, max_size=2),
)
rule = st.builds(
    lambda action, src, dst, p: {"action": action, "from": src, "to": dst, **({"ports": p} if p else {})},
    st.sampled_from(["allow", "deny"]),
    endpoint,
    endpoint,
    ports,
)


def _intents(rules):
    return st.builds(
        lambda rules, default: {
            "apiVersion": "kubereach.io/v1alpha1",
            "kind": "ReachabilityIntent",
            "metadata": {"name": "random"},
            "spec": {"default": default, "rules": rules},
        },
        st.lists(rules, max_size=4),
        st.sampled_from(["unspecified", "unspecified", "allow", "deny"]),
    )


intents = _intents(rule)
label_rule = st.builds(
    lambda action, src, dst, p: {"action": action, "from": src, "to": dst, **({"ports": p} if p else {})},
    st.sampled_from(["allow", "deny"]),
    label_endpoint,
    label_endpoint,
    ports,
)


def _snapshot(objs):
    return snapshot_from_objects((o, Origin("test", i)) for i, o in enumerate(objs, 1))


def _cells(snapshot, intent):
    """(source, destination, port, protocol) -> allowed, over suggest's universe."""
    out = {}
    for row in expected_matrix(snapshot):
        out[row[:4]] = row.decision == "allow"
    extra = intent.numeric_ports()
    if extra and snapshot.pods:
        for row in expected_matrix(snapshot, extra):
            out[row[:4]] = row.decision == "allow"
    return {k: v for k, v in out.items() if k[0] != k[1]}


def _distinct_workloads(objs):
    """Every pod its own workload (a unique label) and no host network: every pod can be
    named by a selector, so every specified cell must come out as intended."""
    objs = copy.deepcopy(objs)
    for o in objs:
        if o["kind"] == "Pod":
            o["metadata"]["labels"]["workload"] = o["metadata"]["name"]
            o["spec"]["hostNetwork"] = False
    return objs


def _check(objs, raw_intent, tighten):
    snapshot = _snapshot(objs)
    intent = parse_intent(raw_intent)
    result = suggest(snapshot, intent, tighten=tighten)
    added = _snapshot([obj for _, obj in result.policies])  # the loader's validation
    after_snapshot = replace(snapshot, policies=snapshot.policies + added.policies)
    before, after = _cells(snapshot, intent), _cells(after_snapshot, intent)
    assert before.keys() == after.keys()
    index = IntentIndex(intent, snapshot)
    intended = {k: index.cell(k[0], k[1], k[2], k[3]).intended for k in before}
    wrong = [
        k for k, want in intended.items() if want is not Intended.UNSPECIFIED and after[k] != (want is Intended.ALLOW)
    ]
    # the report is honest: counts match the references
    assert result.remaining.count == len(wrong)
    assert result.opened.count == sum(after[k] and not before[k] for k in before)
    assert result.closed.count == sum(before[k] and not after[k] for k in before)
    assert result.closed_intended_allow.count == sum(
        before[k] and not after[k] and intended[k] is Intended.ALLOW for k in before
    )
    if not tighten:
        assert result.changed_unspecified.count == sum(
            before[k] != after[k] and intended[k] is Intended.UNSPECIFIED for k in before
        )
    return snapshot, result, wrong, before


def _closable(model, snapshot, key):
    """Whether adding a policy could close this cell: one side is not isolated yet."""
    pods = {p.key: p for p in snapshot.pods}
    src, dst = pods[key[0]], pods[key[1]]
    verdict = model.evaluate(src, dst, key[2], key[3])
    return any(side.state.value == "not-isolated" for side in (verdict.egress, verdict.ingress))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_pods=6, max_policies=3), intents, st.booleans())
def test_suggest_makes_every_specified_cell_as_intended(objs, raw_intent, tighten):
    objs = _distinct_workloads(objs)
    snapshot, result, wrong, before = _check(objs, raw_intent, tighten)
    assert result.safe, (result.closed_intended_allow, result.changed_unspecified)
    model = PolicyModel(snapshot)
    for key in wrong:
        # only a cell the intent denies and both sides allow through existing rules stays wrong
        assert before[key], key
        assert not _closable(model, snapshot, key), key
    assert len(result.unresolved) == min(len(wrong), 20)


def _replicas(objs):
    """No host network, and pods with the same labels in a namespace made true replicas of
    one workload: the same containers and ports (a Deployment's pods differ in name and IP)."""
    objs = copy.deepcopy(objs)
    first: dict = {}
    for o in objs:
        if o["kind"] == "Pod":
            o["spec"]["hostNetwork"] = False
            key = (o["metadata"]["namespace"], tuple(sorted(o["metadata"]["labels"].items())))
            o["spec"]["containers"] = first.setdefault(key, o["spec"]["containers"])
    return objs


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_pods=7, max_policies=3), _intents(label_rule), st.booleans())
def test_replicas_an_intent_treats_alike_are_handled_as_one_workload(objs, raw_intent, tighten):
    """Pods with identical labels (a workload's replicas) and an intent that names pods by
    labels only: every specified cell comes out as intended, unless both sides allow it
    through existing rules."""
    objs = _replicas(objs)
    snapshot, result, wrong, before = _check(objs, raw_intent, tighten)
    assert result.safe
    model = PolicyModel(snapshot)
    for key in wrong:
        assert before[key] and not _closable(model, snapshot, key), key


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(max_pods=6, max_policies=3), intents, st.booleans())
def test_suggest_reports_truthfully_with_twins_and_host_network(objs, raw_intent, tighten):
    """Pods with identical labels and host-network pods: not everything is possible, but
    every count the report prints is what the model computes, and what is written never
    closes an intended-allow cell nor (without --tighten) changes an unspecified one."""
    _, result, _, _ = _check(objs, raw_intent, tighten)
    assert result.safe
