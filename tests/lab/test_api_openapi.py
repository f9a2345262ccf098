"""OpenAPI v3 documents and discovery, as kubectl reads them."""

from __future__ import annotations

import json

from lab.api import discovery, openapi, schema


def test_root_lists_every_group_version_with_a_hash():
    paths = openapi.root_document()["paths"]
    assert {"api/v1", "apis/networking.k8s.io/v1", "apis/admissionregistration.k8s.io/v1"} <= set(paths)
    assert paths["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")


def test_core_document_has_real_pod_schema_with_gvk_and_merge_keys():
    doc = json.loads(openapi.group_version_document("", "v1"))
    schemas = doc["components"]["schemas"]
    pod = schemas["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "version": "v1", "kind": "Pod"}]
    spec = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert (
        spec["ephemeralContainers"]["items"]["allOf"][0]["$ref"]
        == "#/components/schemas/io.k8s.api.core.v1.EphemeralContainer"
    )
    ports = schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in schemas


def test_patch_operations_declare_field_validation_so_kubectl_validates_on_the_server():
    doc = json.loads(openapi.group_version_document("networking.k8s.io", "v1"))
    item = doc["paths"]["/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"]["kind"] == "NetworkPolicy"
    assert "fieldValidation" in [p["name"] for p in item["patch"]["parameters"]]
    port = doc["components"]["schemas"]["io.k8s.api.networking.v1.NetworkPolicyPort"]["properties"]["port"]
    assert port["x-kubernetes-int-or-string"] is True
    assert "port" in port["description"]  # kubectl explain shows the real descriptions


def test_decode_reports_type_errors_and_unknown_fields_with_paths():
    pod = {
        "metadata": {"name": "p", "labels": {"a": 1}},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "colour": "red", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}
            ]
        },
    }
    _, unknown, problems = schema.decode("V1Pod", pod)
    assert unknown == ["spec.containers[0].colour"]
    assert [p.path for p in problems] == ["metadata.labels.a"]  # quantities may be numbers, labels not


def test_discovery_lists_subresources():
    names = [r["name"] for r in discovery.resource_list("", "v1")["resources"]]
    assert {"pods", "pods/log", "pods/ephemeralcontainers", "pods/status", "namespaces"} <= set(names)
    assert discovery.api_group("networking.k8s.io")["preferredVersion"]["version"] == "v1"


def test_pod_table_rows_read_like_kubectl_get_pods():
    from lab.api.tables import table

    base = {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "containers": [{"name": "a"}, {"name": "b"}],
            "initContainers": [{"name": "i"}],
            "nodeName": "krl-node",
        },
    }
    pending = {
        **base,
        "status": {
            "phase": "Pending",
            "podIP": "10.244.0.9",
            "initContainerStatuses": [{"name": "i", "state": {"running": {}}}],
        },
    }
    running = {
        **base,
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.9",
            "containerStatuses": [
                {"name": "a", "ready": True, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": False, "restartCount": 2, "state": {"running": {}}},
            ],
        },
    }
    done = {
        **base,
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        },
    }
    rows = [r["cells"][:5] for r in table("pods", [pending, running, done])["rows"]]
    assert rows[0][1:3] == ["0/2", "Init:0/1"]
    assert rows[1][1:4] == ["1/2", "Running", 2]
    assert rows[2][2] == "Completed"
    assert rows[1][4].endswith("d")
