"""The lab API through the official ``kubernetes`` Python client (over HTTPS, bearer token)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from krl_lab_helpers import pod_manifest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def _wait(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_load_kube_config_from_the_lab_kubeconfig_works(api_lab):
    from kubernetes import config as kconfig

    saved = k8s.Configuration.get_default_copy()
    try:
        kconfig.load_kube_config(config_file=str(api_lab.kubeconfig))
        names = [n.metadata.name for n in k8s.CoreV1Api().list_namespace().items]
    finally:
        k8s.Configuration.set_default(saved)
    assert "default" in names


def test_request_without_token_is_401_status(api_lab):
    http = api_lab.http()
    resp = http.request("GET", api_lab.url + "/api/v1/pods")
    body = json.loads(resp.data)
    assert resp.status == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
    resp = http.request("GET", api_lab.url + "/version", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401


def test_server_binds_loopback_only(api_lab):
    assert api_lab.url.startswith("https://127.0.0.1:")


def test_create_get_list_delete_pod(api_lab, ns):
    core = api_lab.core()
    created = core.create_namespaced_pod(ns, pod_manifest("web", labels={"app": "web"}))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.status.phase == "Pending"
    running = _wait(lambda: (p := core.read_namespaced_pod("web", ns)).status.phase == "Running" and p)
    assert running.status.pod_ip.startswith("10.244.")
    assert running.spec.node_name in {n.info.name for n in api_lab.nodes}
    assert running.status.host_ip == api_lab.node_of(ns, "web").info.internal_ip
    assert [p.metadata.name for p in core.list_namespaced_pod(ns).items] == ["web"]
    core.delete_namespaced_pod("web", ns)
    assert (ns, "web") in api_lab.stopped()
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("web", ns)
    assert err.value.status == 404
    assert _status(err.value)["reason"] == "NotFound"
    assert _status(err.value)["message"] == 'pods "web" not found'


def test_create_twice_is_409_already_exists(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    assert err.value.status == 409 and _status(err.value)["reason"] == "AlreadyExists"


def test_stale_resource_version_update_is_409_conflict(api_lab, ns):
    core = api_lab.core()
    cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    cm.data = {"a": "2"}
    core.replace_namespaced_config_map("cm", ns, cm)
    cm.data = {"a": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cm", ns, cm)  # still carries the old resourceVersion
    assert err.value.status == 409 and _status(err.value)["reason"] == "Conflict"


def test_create_in_missing_namespace_is_404(api_lab):
    with pytest.raises(ApiException) as err:
        api_lab.core().create_namespaced_pod("no-such-ns", pod_manifest("x"))
    assert err.value.status == 404
    assert _status(err.value)["details"]["kind"] == "namespaces"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda p: p["metadata"].update(name="Bad_Name"), "metadata.name"),
        (lambda p: p["metadata"].update(labels={"app": "-bad-"}), "metadata.labels"),
        (lambda p: p["spec"]["containers"][0].update(name="Main"), "spec.containers[0].name"),
        (lambda p: p["spec"]["containers"].append({"name": "main", "image": "x"}), "spec.containers[1].name"),
        (
            lambda p: p["spec"]["containers"][0]["ports"][0].update(containerPort=70000),
            "spec.containers[0].ports[0].containerPort",
        ),
        (
            lambda p: p["spec"]["containers"][0]["ports"][0].update(protocol="ICMP"),
            "spec.containers[0].ports[0].protocol",
        ),
        (lambda p: p["spec"].update(hostNetwork=True), "spec.hostNetwork"),
        (
            lambda p: p["spec"]["containers"][0]["ports"][0].update(hostPort=8080),
            "spec.containers[0].ports[0].hostPort",
        ),
        (lambda p: p["spec"].update(volumes=[{"name": "data", "hostPath": {"path": "/"}}]), "spec.volumes[0].hostPath"),
        (lambda p: p["spec"].update(restartPolicy="Sometimes"), "spec.restartPolicy"),
        (lambda p: p["spec"]["containers"][0].pop("image"), "spec.containers[0].image"),
        (
            lambda p: p["spec"].update(initContainers=[{"name": "proxy", "image": "x", "restartPolicy": "Never"}]),
            "spec.initContainers[0].restartPolicy",
        ),
        (lambda p: p["spec"]["containers"][0].update(restartPolicy="Always"), "spec.containers[0].restartPolicy"),
    ],
)
def test_invalid_pod_is_422_naming_the_field(api_lab, ns, mutate, field):
    body = pod_manifest("p")
    mutate(body)
    with pytest.raises(ApiException) as err:
        api_lab.core().create_namespaced_pod(ns, body)
    status = _status(err.value)
    assert err.value.status == 422 and status["reason"] == "Invalid"
    assert field in [c["field"] for c in status["details"]["causes"]]
    assert field in status["message"]


def test_native_sidecar_init_container_is_accepted(api_lab, ns):
    body = pod_manifest(
        "p",
        initContainers=[
            {
                "name": "proxy",
                "image": "x",
                "restartPolicy": "Always",
                "ports": [{"containerPort": 9901, "name": "metrics"}],
            }
        ],
    )
    created = api_lab.core().create_namespaced_pod(ns, body)
    assert created.spec.init_containers[0].restart_policy == "Always"


def test_emptydir_volume_is_accepted(api_lab, ns):
    body = pod_manifest("p", volumes=[{"name": "tmp", "emptyDir": {}}])
    body["spec"]["containers"][0]["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    assert api_lab.core().create_namespaced_pod(ns, body).spec.volumes[0].name == "tmp"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 5}}',
        b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": "nope"}}',
        b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"name": "a", '
        b'"image": "b", "ports": [{"containerPort": "eighty"}]}]}}',
    ],
)
def test_undecodable_body_is_400_never_500(api_lab, ns, body):
    http = api_lab.http()
    resp = http.request(
        "POST",
        f"{api_lab.url}/api/v1/namespaces/{ns}/pods",
        body=body,
        headers={"Authorization": f"Bearer {api_lab.token}", "Content-Type": "application/json"},
    )
    doc = json.loads(resp.data)
    assert resp.status == 400, doc
    assert doc["kind"] == "Status" and doc["reason"] == "BadRequest"


def test_unknown_fields_are_dropped_with_a_warning_or_refused_when_strict(api_lab, ns):
    http = api_lab.http()
    body = pod_manifest("unk")
    body["spec"]["containers"][0]["colour"] = "blue"
    headers = {"Authorization": f"Bearer {api_lab.token}", "Content-Type": "application/json"}
    url = f"{api_lab.url}/api/v1/namespaces/{ns}/pods"
    strict = http.request("POST", url + "?fieldValidation=Strict", body=json.dumps(body), headers=headers)
    assert strict.status == 400
    assert 'unknown field "spec.containers[0].colour"' in json.loads(strict.data)["message"]
    lax = http.request("POST", url, body=json.dumps(body), headers=headers)
    assert lax.status == 201
    assert "colour" in lax.headers.get("Warning", "")
    assert "colour" not in json.loads(lax.data)["spec"]["containers"][0]


def test_label_and_field_selectors(api_lab, ns):
    core = api_lab.core()
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_pod(ns, pod_manifest(name, labels={"tier": tier, "app": name}, nodeName="krl-node-1"))
    names = lambda **kw: sorted(p.metadata.name for p in core.list_namespaced_pod(ns, **kw).items)  # noqa: E731
    assert names(label_selector="tier=web") == ["a", "b"]
    assert names(label_selector="tier!=web") == ["c"]
    assert names(label_selector="tier in (db),app") == ["c"]
    assert names(label_selector="app notin (a,b)") == ["c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    _wait(lambda: names(field_selector="status.phase=Running") == ["a", "b", "c"])
    assert names(field_selector="spec.nodeName=krl-node-1,metadata.name!=a") == ["b", "c"]
    all_ns = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}").items
    assert len(all_ns) == 3
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(ns, field_selector="spec.colour=red")
    assert err.value.status == 400


def test_watch_streams_added_modified_deleted(api_lab, ns):
    core = api_lab.core()
    events: list[tuple[str, str, str]] = []
    w = k8s_watch.Watch()

    def consume():
        for ev in w.stream(core.list_namespaced_pod, ns, timeout_seconds=5):
            events.append((ev["type"], ev["object"].metadata.name, ev["object"].status.phase))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.3)
    core.create_namespaced_pod(ns, pod_manifest("w"))
    _wait(lambda: any(e[2] == "Running" for e in events))
    core.delete_namespaced_pod("w", ns)
    t.join(10)
    types = [e[0] for e in events]
    assert types[0] == "ADDED" and "MODIFIED" in types and types[-1] == "DELETED"


def test_watch_resumes_from_resource_version_and_honours_timeout(api_lab, ns):
    core = api_lab.core()
    listed = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "one"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "two"}})
    start = time.monotonic()
    resp = core.list_namespaced_config_map(
        ns, watch=True, resource_version=listed.metadata.resource_version, timeout_seconds=1, _preload_content=False
    )
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert time.monotonic() - start < 5
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "one"), ("ADDED", "two")]


def test_label_selector_watch_sees_objects_leave_the_selection(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_config_map(ns, {"metadata": {"name": "m", "labels": {"keep": "yes"}}})
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"keep": "no"}}})
    resp = core.list_namespaced_config_map(
        ns, watch=True, resource_version=rv, label_selector="keep=yes", timeout_seconds=1, _preload_content=False
    )
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert [e["type"] for e in lines] == ["DELETED"]


def test_pod_log_with_container_parameter(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(
        ns, pod_manifest("two", containers=[{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])
    )
    _wait(lambda: core.read_namespaced_pod("two", ns).status.phase == "Running")
    assert core.read_namespaced_pod_log("two", ns, container="b") == "fake b started in two\n"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("two", ns)
    assert err.value.status == 400 and "choose one of: [a b]" in _status(err.value)["message"]
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("two", ns, container="zz")
    assert err.value.status == 400


def test_ephemeral_container_added_via_python_client_patch(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("target"))
    _wait(lambda: core.read_namespaced_pod("target", ns).status.phase == "Running")
    eph = {
        "name": "probe",
        "image": "kubereach/agent:0.1",
        "targetContainerName": "main",
        "securityContext": {"runAsUser": 4242},
    }
    pod = core.patch_namespaced_pod_ephemeralcontainers("target", ns, {"spec": {"ephemeralContainers": [eph]}})
    assert [c.name for c in pod.spec.ephemeral_containers] == ["probe"]
    _wait(
        lambda: (s := core.read_namespaced_pod("target", ns).status.ephemeral_container_statuses) and s[0].state.running
    )
    log = core.read_namespaced_pod_log("target", ns, container="probe")
    assert log.startswith("ephemeral probe in 10.244.")
    # a second one is an addition: allowed; the first stays as it was
    pod = core.patch_namespaced_pod_ephemeralcontainers(
        "target", ns, {"spec": {"ephemeralContainers": [{"name": "probe2", "image": "x"}]}}
    )
    assert [c.name for c in pod.spec.ephemeral_containers] == ["probe", "probe2"]


def test_ephemeral_containers_can_never_change_or_disappear(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("t"))
    core.patch_namespaced_pod_ephemeralcontainers(
        "t", ns, {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}
    )
    with pytest.raises(ApiException) as err:  # change via strategic merge (same name, new image)
        core.patch_namespaced_pod_ephemeralcontainers(
            "t", ns, {"spec": {"ephemeralContainers": [{"name": "dbg", "image": "alpine"}]}}
        )
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:  # removal via JSON patch
        core.patch_namespaced_pod_ephemeralcontainers(
            "t", ns, [{"op": "remove", "path": "/spec/ephemeralContainers/0"}]
        )
    assert err.value.status == 422
    pod = core.read_namespaced_pod("t", ns)
    pod.spec.ephemeral_containers = []
    with pytest.raises(ApiException) as err:  # removal via PUT replace
        core.replace_namespaced_pod_ephemeralcontainers("t", ns, pod)
    assert err.value.status == 422
    # and the main update path cannot add one either
    pod = core.read_namespaced_pod("t", ns)
    pod.spec.ephemeral_containers.append(k8s.V1EphemeralContainer(name="sneaky", image="x"))
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("t", ns, pod)
    assert err.value.status == 422
    assert [c.name for c in core.read_namespaced_pod("t", ns).spec.ephemeral_containers] == ["dbg"]


def test_ephemeral_container_via_json_patch_add(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("jp", nodeName="krl-node-0"))
    pod = core.patch_namespaced_pod_ephemeralcontainers(
        "jp", ns, [{"op": "add", "path": "/spec/ephemeralContainers", "value": [{"name": "e1", "image": "x"}]}]
    )
    assert pod.spec.ephemeral_containers[0].name == "e1"
    assert (
        api_lab.node.ephemeral
        and (ns, "jp", "e1") in api_lab.node.ephemeral
        or _wait(lambda: (ns, "jp", "e1") in api_lab.node.ephemeral)
    )


def test_pod_spec_is_immutable_except_what_the_real_api_allows(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("im", activeDeadlineSeconds=600))
    # allowed: labels, annotations, image, lowering activeDeadlineSeconds
    core.patch_namespaced_pod("im", ns, {"metadata": {"labels": {"extra": "1"}, "annotations": {"a": "b"}}})
    core.patch_namespaced_pod("im", ns, {"spec": {"containers": [{"name": "main", "image": "busybox:1.37"}]}})
    pod = core.patch_namespaced_pod("im", ns, {"spec": {"activeDeadlineSeconds": 300}})
    assert pod.metadata.labels["extra"] == "1" and pod.spec.containers[0].image == "busybox:1.37"
    assert pod.spec.active_deadline_seconds == 300
    for patch in (
        {"spec": {"restartPolicy": "Never"}},
        {"spec": {"containers": [{"name": "main", "ports": [{"containerPort": 9090}]}]}},
        {"spec": {"activeDeadlineSeconds": 900}},
    ):
        with pytest.raises(ApiException) as err:
            core.patch_namespaced_pod("im", ns, patch)
        assert err.value.status == 422, patch
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("im", ns, {"spec": {"restartPolicy": "Never"}})
    assert "pod updates may not change fields" in _status(err.value)["message"]


def test_merge_and_json_patch_on_labels(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("lp", labels={"a": "1", "b": "2"}))
    pod = core.patch_namespaced_pod(
        "lp", ns, {"metadata": {"labels": {"b": None, "c": "3"}}}, _content_type="application/merge-patch+json"
    )
    assert pod.metadata.labels == {"a": "1", "c": "3"}
    pod = core.patch_namespaced_pod("lp", ns, [{"op": "replace", "path": "/metadata/labels/a", "value": "9"}])
    assert pod.metadata.labels == {"a": "9", "c": "3"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod("lp", ns, [{"op": "remove", "path": "/metadata/labels/zz"}])
    assert err.value.status == 422


def test_pod_status_subresource(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("st"))
    _wait(lambda: core.read_namespaced_pod_status("st", ns).status.phase == "Running")
    pod = core.patch_namespaced_pod_status("st", ns, {"status": {"message": "hello"}})
    assert pod.status.message == "hello" and pod.status.phase == "Running"


def test_networkpolicy_crud_and_validation(api_lab, ns):
    net = api_lab.networking()
    body = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    created = net.create_namespaced_network_policy(ns, body)
    assert created.spec.policy_types == ["Ingress"]
    patched = net.patch_namespaced_network_policy(
        "deny",
        ns,
        {"spec": {"ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 80}]}]}},
    )
    assert patched.spec.ingress[0].ports[0].protocol == "TCP"
    patched.spec.policy_types = ["Ingress", "Egress"]
    replaced = net.replace_namespaced_network_policy("deny", ns, patched)
    assert replaced.spec.policy_types == ["Ingress", "Egress"]
    assert replaced.metadata.generation == 3
    assert [p.metadata.name for p in net.list_namespaced_network_policy(ns).items] == ["deny"]
    bad = {
        "metadata": {"name": "bad"},
        "spec": {
            "podSelector": {},
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}, "podSelector": {}}],
                    "ports": [{"port": 80, "endPort": 70}],
                }
            ],
        },
    }
    with pytest.raises(ApiException) as err:
        net.create_namespaced_network_policy(ns, bad)
    fields = {c["field"] for c in _status(err.value)["details"]["causes"]}
    assert {
        "spec.ingress[0].from[0]",
        "spec.ingress[0].from[0].ipBlock.except[0]",
        "spec.ingress[0].ports[0].endPort",
    } <= fields
    net.delete_namespaced_network_policy("deny", ns)
    assert net.list_namespaced_network_policy(ns).items == []


def test_network_sync_follows_changes_and_coalesces_bursts(api_lab, ns):
    core = api_lab.core()
    before = len(api_lab.node.syncs)
    api_lab.node.sync_delay = 0.2  # a recompile takes a while, as with 200 pods' rules
    try:
        for i in range(30):
            core.create_namespaced_pod(ns, pod_manifest(f"burst-{i}"))
        _wait(
            lambda: (
                api_lab.run(lambda: api_lab.cluster.network.idle)
                and any(
                    p["metadata"]["name"] == "burst-29" and p.get("status", {}).get("podIP")
                    for p in api_lab.node.last_sync[1]
                )
            ),
            timeout=20,
        )
    finally:
        api_lab.node.sync_delay = 0.0
    runs = len(api_lab.node.syncs) - before
    assert 1 <= runs <= 15


def test_owner_reference_garbage_collection(api_lab, ns):
    core = api_lab.core()
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "sweep-owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "sweep-owner", "uid": owner.metadata.uid}
    core.create_namespaced_pod(ns, {**pod_manifest("owned"), "metadata": {"name": "owned", "ownerReferences": [ref]}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    other = core.create_namespaced_config_map(ns, {"metadata": {"name": "other-owner"}})
    ref2 = {"apiVersion": "v1", "kind": "ConfigMap", "name": "other-owner", "uid": other.metadata.uid}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "shared", "ownerReferences": [ref, ref2]}})
    core.delete_namespaced_config_map("sweep-owner", ns)
    _wait(lambda: [p.metadata.name for p in core.list_namespaced_pod(ns).items] == [])
    assert (ns, "owned") in api_lab.stopped()
    names = _wait(
        lambda: (
            (n := sorted(c.metadata.name for c in core.list_namespaced_config_map(ns).items)) and "child" not in n and n
        )
    )
    assert names == ["other-owner", "shared"]
    shared = core.read_namespaced_config_map("shared", ns)
    assert [r.uid for r in shared.metadata.owner_references] == [other.metadata.uid]


def test_orphan_propagation_keeps_dependents(api_lab, ns):
    core = api_lab.core()
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "o"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "d", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("o", ns, propagation_policy="Orphan")
    assert core.read_namespaced_config_map("d", ns).metadata.owner_references in (None, [])


def test_foreground_propagation_deletes_dependents_first(api_lab, ns):
    core = api_lab.core()
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "o"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner.metadata.uid}
    core.create_namespaced_pod(ns, {**pod_manifest("p"), "metadata": {"name": "p", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("o", ns, propagation_policy="Foreground")
    assert core.list_namespaced_pod(ns).items == []


def test_namespace_delete_removes_everything_inside(api_lab):
    core = api_lab.core()
    name = api_lab.namespace("gone")
    core.create_namespaced_pod(name, pod_manifest("p1"))
    core.create_namespaced_config_map(name, {"metadata": {"name": "c"}})
    api_lab.networking().create_namespaced_network_policy(
        name, {"metadata": {"name": "n"}, "spec": {"podSelector": {}}}
    )
    ns_obj = core.delete_namespace(name)  # the client types this answer as Status: a dict here
    assert ns_obj["status"]["phase"] == "Terminating"
    _wait(lambda: name not in [n.metadata.name for n in core.list_namespace().items])
    assert (name, "p1") in api_lab.stopped()
    assert core.list_namespaced_config_map(name).items == []
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    assert err.value.status == 404


def test_services_get_a_cluster_ip_and_validation(api_lab, ns):
    core = api_lab.core()
    svc = core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.ports[0].protocol == "TCP"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(ns, {"metadata": {"name": "9bad"}, "spec": {"ports": [{"port": 80}]}})
    assert err.value.status == 422


def test_generate_name_and_dry_run(api_lab, ns):
    core = api_lab.core()
    cm = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "probe-"}})
    assert cm.metadata.name.startswith("probe-") and len(cm.metadata.name) == len("probe-") + 5
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}}, dry_run="All")
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == [cm.metadata.name]


def test_delete_collection_with_label_selector(api_lab, ns):
    core = api_lab.core()
    for i in range(3):
        core.create_namespaced_pod(ns, pod_manifest(f"dc-{i}", labels={"sweep": "s1" if i < 2 else "s2"}))
    core.delete_collection_namespaced_pod(ns, label_selector="sweep=s1")
    assert [p.metadata.name for p in core.list_namespaced_pod(ns).items] == ["dc-2"]


def test_two_hundred_pods_are_created_quickly(api_lab, ns):
    core = api_lab.core()
    start = time.monotonic()
    for i in range(200):
        core.create_namespaced_pod(
            ns,
            pod_manifest(
                f"p{i}",
                containers=[
                    {"name": "a", "image": "x", "ports": [{"containerPort": 80}]},
                    {"name": "b", "image": "x", "ports": [{"containerPort": 81}]},
                ],
            ),
        )
    elapsed = time.monotonic() - start
    assert len(core.list_namespaced_pod(ns).items) == 200
    assert elapsed < 20, f"200 pod creations took {elapsed:.1f}s"


WEBHOOK = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "krl-test-hook"},
    "webhooks": [
        {
            "name": "deny.kubereach.io",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"url": "https://127.0.0.1:1/validate"},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        }
    ],
}


def test_pod_create_goes_through_admission_when_webhooks_are_configured(api_lab, ns, monkeypatch):
    from kubernetes import client as kc

    import lab.admission

    seen = {}

    async def fake_admit(pod, *, namespace_labels, mutating, validating, operation="CREATE", dry_run=False):
        seen.update(
            labels=namespace_labels,
            validating=[v["metadata"]["name"] for v in validating],
            namespace=pod["metadata"].get("namespace"),
        )
        if pod["metadata"]["name"] == "denied":
            return lab.admission.AdmissionOutcome(
                False, pod, 'admission webhook "deny.kubereach.io" denied the request: no thanks', 403
            )
        mutated = {
            **pod,
            "metadata": {**pod["metadata"], "labels": {**pod["metadata"].get("labels", {}), "mutated": "yes"}},
        }
        return lab.admission.AdmissionOutcome(True, mutated, warnings=("hook says hi",))

    monkeypatch.setattr(lab.admission, "admit_pod", fake_admit)
    adm = kc.AdmissionregistrationV1Api(api_lab.api_client())
    adm.create_validating_webhook_configuration(WEBHOOK)
    try:
        core = api_lab.core()
        with pytest.raises(ApiException) as err:
            core.create_namespaced_pod(ns, pod_manifest("denied"))
        assert err.value.status == 403
        assert "no thanks" in _status(err.value)["message"]
        resp = api_lab.http().request(
            "POST",
            f"{api_lab.url}/api/v1/namespaces/{ns}/pods",
            body=json.dumps(pod_manifest("ok")),
            headers={"Authorization": f"Bearer {api_lab.token}", "Content-Type": "application/json"},
        )
        assert resp.status == 201 and "hook says hi" in resp.headers["Warning"]
        pod = core.read_namespaced_pod("ok", ns)
        assert pod.metadata.labels["mutated"] == "yes"
        assert seen["namespace"] == ns
        assert seen["labels"]["kubernetes.io/metadata.name"] == ns
        assert seen["validating"] == ["krl-test-hook"]
    finally:
        adm.delete_validating_webhook_configuration("krl-test-hook")


def test_invalid_webhook_configuration_is_422(api_lab):
    from kubernetes import client as kc

    bad = json.loads(json.dumps(WEBHOOK))
    bad["metadata"]["name"] = "krl-bad-hook"
    bad["webhooks"][0]["sideEffects"] = "Some"
    del bad["webhooks"][0]["clientConfig"]["url"]
    with pytest.raises(ApiException) as err:
        kc.AdmissionregistrationV1Api(api_lab.api_client()).create_validating_webhook_configuration(bad)
    fields = {c["field"] for c in _status(err.value)["details"]["causes"]}
    assert {"webhooks[0].sideEffects", "webhooks[0].clientConfig"} <= fields


def test_pod_log_follow_streams_until_the_container_ends(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("f", nodeName="krl-node-0"))
    _wait(lambda: core.read_namespaced_pod("f", ns).status.phase == "Running")
    resp = core.read_namespaced_pod_log("f", ns, follow=True, _preload_content=False)
    chunks = []

    def reader():
        for chunk in resp.stream(64):
            chunks.append(chunk)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.3)
    key = (ns, "f", "main")
    api_lab.run(lambda: api_lab.node.logs.__setitem__(key, api_lab.node.logs[key] + b"more output\n"))
    _wait(lambda: b"more output" in b"".join(chunks))

    # the container terminates: the stream ends by itself
    def finish():
        pod = api_lab.cluster.store.get("pods", ns, "f")
        status = dict(pod["status"])
        status["phase"] = "Succeeded"
        status["containerStatuses"] = [{**status["containerStatuses"][0], "state": {"terminated": {"exitCode": 0}}}]
        api_lab.cluster.kubelets.reporter(ns, "f", pod["metadata"]["uid"])(status)

    api_lab.run(finish)
    t.join(5)
    assert not t.is_alive()
    assert b"".join(chunks) == b"fake main started in f\nmore output\n"


def test_tail_lines_and_limit_bytes(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("t", nodeName="krl-node-0"))
    _wait(lambda: core.read_namespaced_pod("t", ns).status.phase == "Running")
    key = (ns, "t", "main")
    api_lab.run(lambda: api_lab.node.logs.__setitem__(key, b"one\ntwo\nthree\n"))
    assert core.read_namespaced_pod_log("t", ns, tail_lines=2) == "two\nthree\n"
    assert core.read_namespaced_pod_log("t", ns, limit_bytes=5) == "one\nt"


def test_events_list_is_served_empty(api_lab, ns):
    assert api_lab.core().list_namespaced_event(ns).items == []


def test_every_namespace_gets_a_default_service_account(api_lab, ns):
    assert [sa.metadata.name for sa in api_lab.core().list_namespaced_service_account(ns).items] == ["default"]


def test_unserved_subresources_and_previous_logs_say_so(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("x"))
    _wait(lambda: core.read_namespaced_pod("x", ns).status.phase == "Running")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("x", ns, previous=True)
    assert err.value.status == 400 and "previous terminated container" in _status(err.value)["message"]
    resp = api_lab.http().request(
        "GET", f"{api_lab.url}/api/v1/namespaces/{ns}/pods/x/exec", headers={"Authorization": f"Bearer {api_lab.token}"}
    )
    assert resp.status == 404 and b"does not serve pods/exec" in resp.data


def test_method_not_allowed_is_405_status(api_lab):
    resp = api_lab.http().request(
        "PUT", f"{api_lab.url}/api/v1/pods", headers={"Authorization": f"Bearer {api_lab.token}"}
    )
    assert resp.status == 405 and json.loads(resp.data)["reason"] == "MethodNotAllowed"


def test_status_reports_from_another_thread_are_applied_on_the_loop(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("th"))
    _wait(lambda: core.read_namespaced_pod("th", ns).status.phase == "Running")
    uid = core.read_namespaced_pod("th", ns).metadata.uid
    report = api_lab.run(lambda: api_lab.cluster.kubelets.reporter(ns, "th", uid))
    report({"phase": "Failed", "reason": "DeadlineExceeded", "message": "from a worker thread"})
    pod = _wait(lambda: (p := core.read_namespaced_pod("th", ns)).status.phase == "Failed" and p)
    assert pod.status.reason == "DeadlineExceeded"


def test_abandoned_watches_are_released(api_lab, ns):
    core = api_lab.core()
    count = lambda: api_lab.run(lambda: len(api_lab.cluster.store._watchers))  # noqa: E731
    before = count()
    resp = core.list_namespaced_pod(ns, watch=True, timeout_seconds=600, _preload_content=False)
    _wait(lambda: count() == before + 1)
    resp.close()  # the client hangs up without reading anything
    _wait(lambda: count() == before, timeout=10)


def test_services_reach_the_node_for_cluster_ip_routing(api_lab, ns):
    core = api_lab.core()
    core.create_namespaced_service(
        ns,
        {
            "metadata": {"name": "routed"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    _wait(
        lambda: any(
            s["metadata"]["name"] == "routed" and s["metadata"]["namespace"] == ns for s in api_lab.node.services
        )
    )
    core.delete_namespaced_service("routed", ns)
    _wait(
        lambda: (
            not any(
                s["metadata"]["name"] == "routed" and s["metadata"]["namespace"] == ns for s in api_lab.node.services
            )
        )
    )


def test_concurrent_ephemeral_container_patches_on_one_pod_all_land(api_lab, ns):
    """Patches apply to the latest pod: parallel additions never overwrite each other."""
    from concurrent.futures import ThreadPoolExecutor

    core = api_lab.core()
    core.create_namespaced_pod(ns, pod_manifest("busy", containers=[{"name": "app", "image": "nginx"}]))
    names = [f"eph-{i}" for i in range(12)]

    def add(name):
        # each thread its own client: the shared one is not thread-safe; a large body
        # (like a sweep agent's compressed spec) arrives in several reads
        api_lab.core().patch_namespaced_pod_ephemeralcontainers(
            "busy",
            ns,
            {"spec": {"ephemeralContainers": [{"name": name, "image": "x", "args": ["run", "--spec", "z" * 300_000]}]}},
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(add, names))
    stored = core.read_namespaced_pod("busy", ns).spec.ephemeral_containers
    assert sorted(c.name for c in stored) == sorted(names)
