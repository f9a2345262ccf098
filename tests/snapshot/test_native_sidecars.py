"""``restartPolicy`` of init containers: ``Always`` marks a native sidecar (KEP-753); the
API server allows no other value there, and neither does the loader."""

from __future__ import annotations

import pytest

from orchestrator.errors import ManifestError
from orchestrator.snapshot import Origin, snapshot_from_objects


def pod_with_init(**init: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {
            "containers": [{"name": "app", "ports": [{"containerPort": 80}]}],
            "initContainers": [
                {"name": "setup"},
                {"name": "proxy", "ports": [{"containerPort": 9901, "name": "metrics"}], **init},
            ],
        },
    }


def load(obj: dict):
    return snapshot_from_objects([(obj, Origin("pods.yaml", 1))]).pods[0]


def test_restart_policy_always_is_read_and_makes_a_serving_container():
    pod = load(pod_with_init(restartPolicy="Always"))
    setup, proxy = pod.init_containers
    assert (setup.restart_policy, proxy.restart_policy) == (None, "Always")
    assert proxy.kind == "init"
    assert [c.name for c in pod.serving_containers] == ["app", "proxy"]
    assert [(cp.port, cp.name) for c in pod.serving_containers for cp in c.ports] == [(80, None), (9901, "metrics")]


def test_without_restart_policy_an_init_container_serves_nothing():
    pod = load(pod_with_init())
    assert [c.name for c in pod.serving_containers] == ["app"]
    assert pod.containers[0].restart_policy is None


@pytest.mark.parametrize("value", ["Never", "OnFailure", "always", 1])
def test_other_restart_policy_on_init_container_is_an_error_with_its_field_path(value):
    with pytest.raises(ManifestError) as info:
        load(pod_with_init(restartPolicy=value))
    err = info.value
    assert (err.file, err.document, err.obj, err.field) == (
        "pods.yaml",
        1,
        "Pod n/x",
        "spec.initContainers[1].restartPolicy",
    )
