"""Loading manifests: files, directories, multi-document YAML, List, API shapes, and clean errors."""

from __future__ import annotations

import json
import textwrap

import pytest

from orchestrator.errors import ManifestError
from orchestrator.snapshot import NAMESPACE_NAME_LABEL, Origin, load_manifests, snapshot_from_objects
from probe.schema import Protocol

POD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  securityContext: {runAsUser: 1000}
  containers:
    - name: app
      image: nginx
      ports: [{containerPort: 8080, name: http}, {containerPort: 53, protocol: UDP}]
    - name: side
      securityContext: {runAsUser: 1002, capabilities: {add: [NET_ADMIN]}}
status: {podIP: 10.1.2.3, podIPs: [{ip: 10.1.2.3}, {ip: "fd00::3"}]}
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_pod_fields_are_read(tmp_path):
    snap = load_manifests([str(write(tmp_path, "pod.yaml", POD))])
    (pod,) = snap.pods
    assert pod.key == "shop/web" and pod.labels == {"app": "web"}
    assert pod.ips == ("10.1.2.3", "fd00::3") and pod.ip == "10.1.2.3"
    app, side = pod.containers
    assert [(p.port, p.protocol, p.name) for p in app.ports] == [(8080, Protocol.TCP, "http"), (53, Protocol.UDP, None)]
    assert app.run_as_user == 1000 and side.run_as_user == 1002  # container overrides pod
    assert side.capabilities_add == ("NET_ADMIN",)
    assert snap.namespaces["shop"].labels == {NAMESPACE_NAME_LABEL: "shop"}  # implied namespace
    assert pod.origin == Origin(str(tmp_path / "pod.yaml"), 1)


def test_directory_is_read_recursively_sorted_and_only_manifest_suffixes(tmp_path):
    write(tmp_path, "b/2.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: two}\n")
    write(tmp_path, "a/1.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: one, labels: {x: y}}\n")
    write(tmp_path, "c.json", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "three"}}))
    write(tmp_path, "README.md", "not: [a manifest")
    snap = load_manifests([str(tmp_path)])
    assert list(snap.namespaces) == ["one", "two", "three"]
    assert snap.namespaces["one"].labels == {"x": "y", NAMESPACE_NAME_LABEL: "one"}


def test_same_file_given_twice_is_read_once(tmp_path):
    p = write(tmp_path, "pod.yaml", POD)
    assert len(load_manifests([str(p), str(tmp_path)]).pods) == 1


def test_multi_document_with_empty_documents_and_list(tmp_path):
    text = (
        "---\n---\n"
        + POD
        + "---\n"
        + textwrap.dedent("""
    apiVersion: v1
    kind: List
    items:
      - apiVersion: v1
        kind: Namespace
        metadata: {name: shop, labels: {team: a}}
      - apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny, namespace: shop}
        spec: {podSelector: {}}
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: web}
    """)
    )
    snap = load_manifests([str(write(tmp_path, "all.yaml", text))])
    assert len(snap.pods) == 1 and [p.key for p in snap.policies] == ["shop/deny"]
    assert snap.namespaces["shop"].labels["team"] == "a"
    assert snap.skipped_kinds == {"ConfigMap": 1}
    assert snap.policies[0].origin.document == 3  # two empty documents, then the pod


def test_kubectl_get_output_and_api_server_shapes_are_accepted():
    api_pod = {
        "metadata": {
            "name": "api-0",
            "namespace": "prod",
            "uid": "123",
            "resourceVersion": "9",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "api"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "api", "uid": "u"}],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "containers": [
                {
                    "name": "api",
                    "image": "x",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                }
            ],
            "ephemeralContainers": [{"name": "debug", "image": "busybox", "targetContainerName": "api"}],
            "nodeName": "n1",
            "dnsPolicy": "ClusterFirst",
            "hostNetwork": False,
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.9",
            "podIPs": [{"ip": "10.0.0.9"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "api", "ready": True}],
        },
    }
    pod_list = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "10"}, "items": [api_pod]}
    pol_list = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicyList",
        "items": [
            {
                "metadata": {"name": "p", "namespace": "prod", "generation": 1},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }
        ],
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "prod"},
        "spec": {
            "selector": {"app": "api"},
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP", "name": "web"}],
        },
        "status": {"loadBalancer": {}},
    }
    snap = snapshot_from_objects(
        [(pod_list, Origin("cluster")), (pol_list, Origin("cluster")), (svc, Origin("cluster"))]
    )
    (pod,) = snap.pods
    assert pod.uid == "123" and pod.phase == "Running" and pod.owner_kinds == ("StatefulSet",)
    assert [c.name for c in pod.ephemeral_containers] == ["debug"]
    assert snap.policies[0].key == "prod/p"
    assert snap.services[0].cluster_ips == ("10.96.0.10",) and snap.services[0].ports[0].target_port == "http"


def test_other_api_group_with_known_kind_is_skipped_and_counted():
    calico = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "NetworkPolicy",
        "metadata": {"name": "x"},
        "spec": {"selector": "all()"},
    }
    snap = snapshot_from_objects([(calico, Origin("f.yaml", 1))])
    assert snap.skipped_kinds == {"NetworkPolicy (projectcalico.org/v3)": 1} and not snap.policies


def test_namespace_name_label_cannot_be_overridden():
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "real", "labels": {NAMESPACE_NAME_LABEL: "fake"}},
    }
    assert snapshot_from_objects([(ns, Origin("x"))]).namespaces["real"].labels[NAMESPACE_NAME_LABEL] == "real"


@pytest.mark.parametrize(
    "text,document,obj,field,message",
    [
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: x}\n"
            "spec: {containers: [{name: c, ports: [{containerPort: 0}]}]}\n",
            1,
            "Pod default/x",
            "spec.containers[0].ports[0].containerPort",
            "out of range",
        ),
        (
            "---\nkind: Namespace\napiVersion: v1\nmetadata: {name: ok}\n---\nkind: Pod\napiVersion: v1\n"
            "metadata: {name: x, namespace: n}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.300}\n",
            2,
            "Pod n/x",
            "status.podIP",
            "not an IP address",
        ),
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: x, labels: {v: 1}}\nspec: {containers: []}\n",
            1,
            "Pod default/x",
            "metadata.labels.v",
            "must be a string",
        ),
        ("kind: Pod\napiVersion: v1\nmetadata: {name: x}\n", 1, "Pod default/x", "spec", "required"),
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: x}\nspec: {containers: [{name: c, ports: [{containerPort: 80, "
            "protocol: ICMP}]}]}\n",
            1,
            "Pod default/x",
            "spec.containers[0].ports[0].protocol",
            "unsupported protocol",
        ),
        ("kind: Pod\napiVersion: v1\nmetadata: {namespace: x}\nspec: {}\n", 1, "Pod", "metadata.name", "required"),
        (
            "kind: List\napiVersion: v1\n"
            "items: [{kind: NetworkPolicy, apiVersion: networking.k8s.io/v1, metadata: [x]}]\n",
            1,
            "NetworkPolicy (items[0])",
            "metadata",
            "expected a mapping",
        ),
        ("- just\n- a list\n", 1, None, None, "expected a Kubernetes object"),
        ("apiVersion: v1\nmetadata: {name: x}\n", 1, None, "kind", "required"),
        (
            "kind: Pod\napiVersion: v1\nmetadata: {name: x}\n"
            "spec: {containers: [{name: c}], hostNetwork: yes please}\n",
            1,
            "Pod default/x",
            "spec.hostNetwork",
            "expected true or false",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    apiVersion: v1\n    metadata: {name: x}\n"
            "    spec: {containers: [{name: c, securityContext: {runAsUser: -1}}]}\n",
            1,
            "Pod default/x (items[0])",
            "spec.containers[0].securityContext.runAsUser",
            "out of range",
        ),
    ],
)
def test_bad_input_names_file_document_object_and_field(tmp_path, text, document, obj, field, message):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ManifestError) as info:
        load_manifests([str(path)])
    err = info.value
    assert (err.file, err.document, err.obj, err.field) == (str(path), document, obj, field)
    assert message in err.detail


def test_invalid_yaml_reports_line(tmp_path):
    path = write(
        tmp_path, "bad.yaml", "kind: Namespace\napiVersion: v1\nmetadata: {name: a}\n---\nmetadata: {name: [oops\n"
    )
    with pytest.raises(ManifestError, match=r"document 2: invalid YAML at line \d+"):
        load_manifests([str(path)])


def test_invalid_json_and_missing_path_and_empty_dir(tmp_path):
    with pytest.raises(ManifestError, match="invalid JSON"):
        load_manifests([str(write(tmp_path, "x.json", "{nope"))])
    with pytest.raises(ManifestError, match="no such file or directory"):
        load_manifests([str(tmp_path / "missing.yaml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no \\*.yaml"):
        load_manifests([str(tmp_path / "empty")])


def test_duplicate_object_is_an_error_naming_both_places(tmp_path):
    path = write(tmp_path, "dup.yaml", POD + "---\n" + POD)
    with pytest.raises(ManifestError, match="duplicate Pod shop/web \\(first defined in .*document 1\\)"):
        load_manifests([str(path)])


def test_non_utf8_file_is_a_clean_error(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifests([str(path)])


@pytest.mark.parametrize(
    "name,text",
    [
        ("deep.yaml", "[" * 20000 + "]" * 20000 + "\n"),
        ("deep.json", '{"kind": ' + "[" * 100000 + "]" * 100000 + "}"),
        # deep inside an otherwise valid object, below the parsers' own limits
        (
            "deep-pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {x: " + "[" * 20000 + "]" * 20000 + "}}\n",
        ),
        (
            "deep-pod.json",
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": ' + "[" * 500 + "]" * 500 + "}}",
        ),
    ],
)
def test_absurdly_nested_input_is_a_clean_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ManifestError, match="nested too deeply") as info:
        load_manifests([str(path)])
    assert (info.value.file, info.value.document) == (str(path), 1)


def test_pod_without_containers_is_an_error(tmp_path):
    path = write(tmp_path, "pod.yaml", "kind: Pod\napiVersion: v1\nmetadata: {name: x}\nspec: {containers: []}\n")
    with pytest.raises(ManifestError, match="at least one container") as info:
        load_manifests([str(path)])
    assert info.value.field == "spec.containers"


def test_a_leading_byte_order_mark_is_accepted_in_json_and_yaml(tmp_path):
    (tmp_path / "a.json").write_bytes(
        b'\xef\xbb\xbf{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}'
    )
    (tmp_path / "b.yaml").write_bytes(b"\xef\xbb\xbfapiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
    assert sorted(load_manifests([str(tmp_path)]).namespaces) == ["a", "b"]


def test_duplicate_keys_are_an_error_naming_file_document_line_and_key(tmp_path):
    # two documents pasted together without '---': kubectl refuses them, so must we (the
    # second pod would otherwise silently replace the first)
    path = tmp_path / "pods.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c}]}\n"
    )
    with pytest.raises(ManifestError) as info:
        load_manifests([str(path)])
    message = str(info.value)
    assert message.startswith(f"{path}, document 1: invalid YAML at line 5, column 1: duplicate key 'apiVersion'")
    assert "first at line 1" in message


def test_duplicate_keys_in_json_are_an_error_too(tmp_path):
    path = tmp_path / "pod.json"
    path.write_text('{"apiVersion": "v1", "kind": "Pod", "kind": "Service"}')
    with pytest.raises(ManifestError, match="document 1: invalid JSON: duplicate key 'kind'"):
        load_manifests([str(path)])


def test_the_demo_concatenated_on_stdin_is_refused_not_silently_shortened(monkeypatch):
    import io
    from pathlib import Path

    demo = sorted(Path(__file__).resolve().parents[2].joinpath("manifests", "demo").glob("*.yaml"))
    text = "".join(p.read_text() for p in demo)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    with pytest.raises(
        ManifestError, match=r"<stdin>, document \d+: invalid YAML at line \d+, column 1: duplicate key"
    ):
        load_manifests(["-"])
