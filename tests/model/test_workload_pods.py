"""The model on workload pods: one representative per workload gives every replica's verdicts.

Why a representative is enough: replicas share their template's labels and ports, so
any NetworkPolicy treats them alike (per-pod labels aside, which predict warns about).
The property test checks it on random workloads and policies: every row of the
``--replicas`` matrix between pods of different workloads has the decision and the
reason of the representatives' row; between two replicas of one workload, the decision
the representative note computes."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_strategies import PORTS, labels, policy_spec

from orchestrator.model import PolicyModel, expected_matrix
from orchestrator.predict import build_prediction, sibling_blocks
from orchestrator.snapshot import LoadOptions, Origin, snapshot_from_objects

KINDS = ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"]


def _workload(kind: str, name: str, ns: str, pod_labels: dict, ports: list, count: int) -> dict:
    tmpl = {
        "metadata": {"labels": {"wl": name, **pod_labels}},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]},
    }
    api = {"Job": "batch/v1", "CronJob": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
    if kind in ("Job", "CronJob"):
        tmpl["spec"]["restartPolicy"] = "Never"
        spec = {"parallelism": count, "template": tmpl}
        if kind == "CronJob":
            spec = {"schedule": "@hourly", "jobTemplate": {"spec": spec}}
    elif kind == "ReplicationController":
        spec = {"replicas": count, "selector": {"wl": name}, "template": tmpl}
    else:
        spec = {"selector": {"matchLabels": {"wl": name}}, "template": tmpl}
        if kind != "DaemonSet":
            spec["replicas"] = count
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


@st.composite
def workload_clusters(draw):
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1", "labels": {"team": "x"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n2", "labels": {"team": "y"}}},
    ]
    for i in range(draw(st.integers(1, 4))):
        ports, names = [], set()
        for number, proto, name in draw(st.lists(st.sampled_from(PORTS), max_size=2, unique_by=lambda p: p[:2])):
            entry = {"containerPort": number, "protocol": proto}
            if name and name not in names:
                entry["name"] = name
                names.add(name)
            ports.append(entry)
        kind = draw(st.sampled_from(KINDS))
        ns = draw(st.sampled_from(["n1", "n2"]))
        objs.append(_workload(kind, f"w{i}", ns, draw(labels), ports, draw(st.integers(1, 3))))
    for j in range(draw(st.integers(0, 3))):
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"np{j}", "namespace": draw(st.sampled_from(["n1", "n2"]))},
                "spec": draw(policy_spec),
            }
        )
    return objs


def _snapshot(objs, replicas: bool):
    return snapshot_from_objects(((o, Origin("gen", i)) for i, o in enumerate(objs, 1)), LoadOptions(replicas=replicas))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workload_clusters())
def test_representatives_give_every_replicas_verdicts(objs):
    rep_snap, all_snap = _snapshot(objs, False), _snapshot(objs, True)
    owner = {p.key: f"{p.namespace}/{p.workload.name}" for p in all_snap.pods}
    rep_rows = {(r.source, r.destination, r.port, r.protocol): r for r in expected_matrix(rep_snap)}
    sibling_denied = set()
    for row in expected_matrix(all_snap):
        src, dst = owner[row.source], owner[row.destination]
        if src != dst:
            rep = rep_rows[(src, dst, row.port, row.protocol)]
            assert (row.decision, row.reason) == (rep.decision, rep.reason), (row, rep)
        elif row.source != row.destination and row.decision != "allow":
            sibling_denied.add(src)
    # what predict notes about replicas reaching one another, from the representatives alone
    multi = {w for w in owner.values() if list(owner.values()).count(w) > 1}
    assert set(sibling_blocks(rep_snap, PolicyModel(rep_snap))) & multi == sibling_denied
    said = re.search(r"replicas of (\d+) workload", " ".join(build_prediction(rep_snap).notes))
    assert (said is not None) == bool(sibling_blocks(rep_snap, PolicyModel(rep_snap)))
