"""The lab's CNI and the orchestrator's policy model agree, on random small clusters, live.

The two are independent implementations of NetworkPolicy v1 (lab/ never imports
orchestrator/; only this test sees both). Hypothesis draws namespace labels, pod labels
and a handful of policies; the CNI compiles them into the node (``sync_network``, as the
API server does after every change) and every pod probes every other pod on two TCP
ports (one of them named) and one fake external host; the observed open/filtered must
be exactly the model's allow/deny. Agreement here is strong evidence that both are right.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from krl_node_helpers import listener_pod

pytestmark = pytest.mark.netns

model = pytest.importorskip("orchestrator.model")
from orchestrator.snapshot.build import snapshot_from_objects  # noqa: E402
from orchestrator.snapshot.types import Origin, Protocol  # noqa: E402

NAMESPACES = ("n1", "n2")
PODS = (("n1", "p1"), ("n1", "p2"), ("n2", "p3"), ("n2", "p4"))
PORTS = (80, 81)  # 80 is named "http" on every pod
EXTERNAL = ("192.0.2.10", 80)  # a fake external host inside the lab

labels_st = st.fixed_dictionaries({"app": st.sampled_from(["a", "b"])}, optional={"role": st.sampled_from(["x", "y"])})
ns_labels_st = st.fixed_dictionaries({}, optional={"team": st.sampled_from(["t1", "t2"])})

selector_st = st.one_of(
    st.just({}),
    st.builds(lambda v: {"matchLabels": {"app": v}}, st.sampled_from(["a", "b"])),
    st.builds(
        lambda op, vals: {"matchExpressions": [{"key": "role", "operator": op, "values": vals}]},
        st.sampled_from(["In", "NotIn"]),
        st.lists(st.sampled_from(["x", "y"]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda op: {"matchExpressions": [{"key": "role", "operator": op}]}, st.sampled_from(["Exists", "DoesNotExist"])
    ),
)
ns_selector_st = st.one_of(
    st.just({}),
    st.builds(lambda v: {"matchLabels": {"team": v}}, st.sampled_from(["t1", "t2"])),
    st.builds(lambda n: {"matchLabels": {"kubernetes.io/metadata.name": n}}, st.sampled_from(NAMESPACES)),
)
ip_block_st = st.one_of(
    st.just({"cidr": "0.0.0.0/0"}),
    st.just({"cidr": "10.244.0.0/16"}),
    st.just({"cidr": "192.0.2.0/24"}),
    st.just({"cidr": "0.0.0.0/0", "except": ["192.0.2.0/24"]}),
    st.just({"cidr": "10.0.0.0/8", "except": ["10.244.0.0/16"]}),
)
peer_st = st.one_of(
    st.builds(lambda s: {"podSelector": s}, selector_st),
    st.builds(lambda n: {"namespaceSelector": n}, ns_selector_st),
    st.builds(lambda s, n: {"podSelector": s, "namespaceSelector": n}, selector_st, ns_selector_st),
    st.builds(lambda b: {"ipBlock": b}, ip_block_st),
)
port_st = st.one_of(
    st.just({"port": 80}),
    st.just({"port": 81}),
    st.just({"port": "http"}),
    st.just({"port": 80, "endPort": 81}),
    st.just({"protocol": "UDP"}),
    st.just({"protocol": "TCP"}),
    st.just({"port": 81, "protocol": "UDP"}),
)


def _rule(key: str):
    return st.builds(
        lambda peers, ports: {
            **({key: peers} if peers is not None else {}),
            **({"ports": ports} if ports is not None else {}),
        },
        st.none() | st.lists(peer_st, max_size=2),
        st.none() | st.lists(port_st, max_size=2),
    )


policy_spec_st = st.builds(
    lambda sel, ing, eg, types: {
        "podSelector": sel,
        **({"ingress": ing} if ing is not None else {}),
        **({"egress": eg} if eg is not None else {}),
        **({"policyTypes": types} if types is not None else {}),
    },
    selector_st,
    st.none() | st.lists(_rule("from"), max_size=2),
    st.none() | st.lists(_rule("to"), max_size=2),
    st.none() | st.lists(st.sampled_from(["Ingress", "Egress"]), min_size=1, max_size=2, unique=True),
)

cluster_st = st.fixed_dictionaries(
    {
        "ns_labels": st.fixed_dictionaries(dict.fromkeys(NAMESPACES, ns_labels_st)),
        "pod_labels": st.fixed_dictionaries(dict.fromkeys(PODS, labels_st)),
        "policies": st.lists(st.tuples(st.sampled_from(NAMESPACES), policy_spec_st), max_size=3),
    }
)


@pytest.fixture
def node(node_factory):
    h = node_factory("enforce")
    for ns, name in PODS:
        h.run_pod(listener_pod(name, namespace=ns, ports=[(80, "TCP"), (81, "TCP")], named={80: "http"}))
    return h


def _model_expectations(h, cluster) -> dict[tuple, bool]:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": cluster["ns_labels"][n]}}
        for n in NAMESPACES
    ]
    for ns, name in PODS:
        pod = h.pods[(ns, name)]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod["metadata"],
                "spec": pod["spec"],
                "status": {"phase": "Running", "podIP": h.ip(ns, name)},
            }
        )
    for i, (ns, spec) in enumerate(cluster["policies"]):
        objects.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"p{i}", "namespace": ns},
                "spec": spec,
            }
        )
    snapshot = snapshot_from_objects((obj, Origin("random")) for obj in objects)
    pm = model.PolicyModel(snapshot)
    pods = {(p.namespace, p.name): p for p in snapshot.pods}
    want: dict[tuple, bool] = {}
    for src in PODS:
        for dst in PODS:
            if src != dst:
                for port in PORTS:
                    want[(src, dst, port)] = (
                        pm.evaluate(pods[src], pods[dst], port, Protocol.TCP).decision == model.Decision.ALLOW
                    )
        want[(src, EXTERNAL[0], EXTERNAL[1])] = pm.evaluate_to_ip(pods[src], *EXTERNAL, Protocol.TCP).allowed
    return want


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cluster=cluster_st)
def test_live_cni_decisions_match_the_orchestrator_model(node, cluster):
    h = node
    for key, labels in cluster["pod_labels"].items():
        h.pods[key] = {**h.pods[key], "metadata": {**h.pods[key]["metadata"], "labels": dict(labels)}}
    namespaces = [{"metadata": {"name": n, "labels": dict(cluster["ns_labels"][n])}} for n in NAMESPACES]
    policies = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"p{i}", "namespace": ns},
            "spec": spec,
        }
        for i, (ns, spec) in enumerate(cluster["policies"])
    ]
    h.sync(namespaces, policies)
    want = _model_expectations(h, cluster)
    keys = sorted(want, key=str)
    jobs = [(src, h.ip(*dst) if isinstance(dst, tuple) else dst, port, "TCP") for src, dst, port in keys]
    got = h.probe_many(jobs, timeout=0.4)
    observed = {k: state in ("open", "closed") for k, state in zip(keys, got, strict=False)}
    assert set(got) <= {"open", "filtered"}, dict(zip(keys, got, strict=False))
    mismatches = {k: ("cni allows" if observed[k] else "cni denies") for k in keys if observed[k] != want[k]}
    assert not mismatches, f"CNI and model disagree on {mismatches}\ncluster: {cluster}"
