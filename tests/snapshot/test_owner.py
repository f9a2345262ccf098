"""Each pod's controller owner is recorded, and stands for a workload stable across rollouts."""

from __future__ import annotations

import pytest

from orchestrator.snapshot import Origin, snapshot_from_objects
from orchestrator.snapshot.types import workload_of


def pod_with(owners: list[dict], labels: dict | None = None):
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d9f8c6b5-x2x4z",
            "namespace": "shop",
            "labels": labels or {},
            "ownerReferences": owners,
        },
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {"podIP": "10.0.0.1"},
    }
    (pod,) = snapshot_from_objects([(obj, Origin("test"))]).pods
    return pod


def test_the_controller_reference_is_the_owner_even_when_not_first():
    pod = pod_with(
        [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "extra", "uid": "1"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8c6b5", "uid": "2", "controller": True},
        ],
        {"pod-template-hash": "7d9f8c6b5"},
    )
    assert pod.owner == "ReplicaSet/web-7d9f8c6b5"
    assert pod.owner_kinds == ("ConfigMap", "ReplicaSet")
    assert pod.workload == "Deployment/web"


def test_without_a_controller_the_first_named_reference_is_the_owner_and_malformed_ones_are_ignored():
    pod = pod_with([{"kind": 3}, {"kind": "StatefulSet", "name": "db"}])
    assert pod.owner == "StatefulSet/db" and pod.workload == "StatefulSet/db"


def test_a_bare_pod_has_no_owner():
    assert pod_with([]).owner is None and pod_with([]).workload is None


@pytest.mark.parametrize(
    ("owner", "labels", "workload"),
    [
        ("ReplicaSet/web-7d9f8c6b5", {"pod-template-hash": "7d9f8c6b5"}, "Deployment/web"),
        ("ReplicaSet/my-app-v2-5c6b", {"pod-template-hash": "5c6b"}, "Deployment/my-app-v2"),
        # a ReplicaSet of its own (no template hash, or one that is not its suffix) is the workload
        ("ReplicaSet/standalone", {}, "ReplicaSet/standalone"),
        ("ReplicaSet/web-abc", {"pod-template-hash": "zzz"}, "ReplicaSet/web-abc"),
        ("DaemonSet/node-agent", {"pod-template-hash": "x"}, "DaemonSet/node-agent"),
        ("Job/backup-28391", {}, "Job/backup-28391"),
        (None, {"pod-template-hash": "x"}, None),
    ],
)
def test_workload_of(owner, labels, workload):
    assert workload_of(owner, labels) == workload
