"""What the webhook denies and what it only warns about; native sidecars; the config's path and size.

Each finding of issue 10 reproduced as an AdmissionReview shaped as kube-apiserver sends
it: a native sidecar with NET_ADMIN, a native sidecar inheriting another container's UID,
a 150 KiB rule list (the argv limit), and the largest annotation the API server accepts.
"""

from __future__ import annotations

import contextlib
import copy
import io

import pytest
from webhook_helpers import decode_patch, init_config, make_pod, make_review, patched

from probe import cli as probe_cli
from webhook.admission import CONFIG_ANNOTATION, MAX_ANNOTATIONS_BYTES, Mode, Settings, annotations_bytes, review

SETTINGS = Settings()
ARG_MAX_STRLEN = 128 * 1024  # Linux refuses a single argument (or environment string) longer than this


def mutate(pod, **kw):
    return review(make_review(pod, **kw), Mode.MUTATE, SETTINGS)["response"]


def validate(pod, **kw):
    return review(make_review(pod, **kw), Mode.VALIDATE, SETTINGS)["response"]


def sidecar(name="proxy", uid=1002, **security):
    sc = {"runAsUser": uid, **security} if uid is not None else dict(security)
    return {"name": name, "image": "envoy", "restartPolicy": "Always", "securityContext": sc}


def test_a_native_sidecar_with_net_admin_is_denied():
    pod = make_pod(init_containers=[sidecar(capabilities={"add": ["NET_ADMIN"]})])
    resp = mutate(pod)
    assert resp["allowed"] is False
    assert "net-admin: native sidecar 'proxy' has NET_ADMIN" in resp["status"]["message"]


@pytest.mark.parametrize(
    "security, code",
    [
        ({"privileged": True}, "privileged: native sidecar 'proxy' is privileged"),
        ({"capabilities": {"add": ["ALL"]}}, "net-admin: native sidecar 'proxy' has NET_ADMIN"),
        ({"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}, "net-admin: native sidecar 'proxy'"),
    ],
)
def test_a_native_sidecar_that_could_remove_the_rules_is_denied(security, code):
    resp = mutate(make_pod(init_containers=[sidecar(**security)]))
    assert resp["allowed"] is False and code in resp["status"]["message"]


def test_dropping_net_admin_again_is_understood():
    pod = make_pod(init_containers=[sidecar(capabilities={"add": ["ALL"], "drop": ["NET_ADMIN"]})])
    assert mutate(pod)["allowed"] is True


def test_a_native_sidecar_inheriting_another_containers_uid_is_denied():
    # the pod-level runAsUser is the sidecar's and, without its own, the app's too
    pod = make_pod(app_uid=None, init_containers=[sidecar(uid=None)], pod_security={"runAsUser": 1001})
    resp = mutate(pod)
    assert resp["allowed"] is False
    assert (
        "shared-uid: container 'app', container 'sidecar', native sidecar 'proxy' share UID 1001"
        in resp["status"]["message"]
    )


def test_a_native_sidecar_with_its_own_uid_takes_part_in_the_rules():
    pod = make_pod(
        rules="rules: [{from: proxy, to: app, ports: [http], action: deny}]",
        init_containers=[{**sidecar(), "ports": [{"containerPort": 15090}]}],
    )
    resp = mutate(pod)
    assert resp["allowed"] is True, resp.get("status")
    config = init_config(patched(pod, {"response": resp}))
    assert {"name": "proxy", "uid": 1002, "ports": ["15090/TCP"]} in config["containers"]
    assert config["rules"]["rules"] == [{"from": "proxy", "to": "app", "ports": ["8080/TCP"], "action": "deny"}]


def test_assign_uids_covers_native_sidecars_too():
    pod = make_pod(
        app_uid=None,
        sidecar_uid=None,
        init_containers=[sidecar(uid=None)],
        annotations={"intrapod.kubereach.io/assign-uids": "true"},
    )
    resp = mutate(pod)
    assert resp["allowed"] is True, resp.get("status")
    final = patched(pod, {"response": resp})
    assert final["spec"]["initContainers"][1]["securityContext"] == {"runAsUser": 10002, "runAsNonRoot": True}
    assigned = final["metadata"]["annotations"]["intrapod.kubereach.io/assigned-uids"]
    assert assigned == "app=10000,sidecar=10001,proxy=10002"


def test_a_plain_init_container_with_net_admin_is_admitted_with_a_warning():
    # a service mesh's init container (istio-init) must keep working: it runs after ours, then exits
    mesh_init = {
        "name": "mesh-init",
        "image": "mesh",
        "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
    }
    pod = make_pod(init_containers=[mesh_init])
    resp = mutate(pod)
    assert resp["allowed"] is True
    (warning,) = resp["warnings"]
    assert warning.startswith("init-net-admin: init container 'mesh-init' has NET_ADMIN") and len(warning) <= 256
    final = patched(pod, {"response": resp})
    assert [c["name"] for c in final["spec"]["initContainers"]] == ["kubereach-intrapod", "mesh-init"]
    # the validating webhook admits it too, with the same warning
    assert validate(final)["allowed"] is True and validate(final)["warnings"] == [warning]


def test_kubereachs_own_init_container_is_never_a_finding():
    final = patched(make_pod(), {"response": mutate(make_pod())})
    again = mutate(final)
    assert again["allowed"] is True and "warnings" not in again and decode_patch({"response": again}) == []


def test_a_pod_named_by_generate_name_is_admitted():
    pod = make_pod()
    meta = pod["metadata"]
    del meta["name"], meta["namespace"]
    meta["generateName"] = "web-"
    assert mutate(pod)["allowed"] is True
    resp = mutate(make_pod(app_uid=0) | {"metadata": {**meta, "annotations": pod["metadata"]["annotations"]}})
    assert "pod shop/web-* cannot be enforced" in resp["status"]["message"]


@pytest.mark.parametrize("key", ["intrapod.kubereach.io/config", "intrapod.kubereach.io/injected"])
def test_the_config_cannot_change_on_a_running_pod(key):
    # the kubelet refreshes downward-API files: a changed config would be installed at the next sandbox restart
    old = patched(make_pod(), {"response": mutate(make_pod())})
    edited = copy.deepcopy(old)
    edited["metadata"]["annotations"][key] = '{"rules": {"default": "allow"}, "containers": []}'
    resp = validate(edited, operation="UPDATE", old=old)
    assert resp["allowed"] is False and f"{key} cannot change on a running pod" in resp["status"]["message"]


# -- the rules reach the init container through a file, whatever their size --------------


def big_rules(n_rules: int, padding: int = 0) -> str:
    """A long, valid rule list (each rule denies the sidecar one of the app's 100 ports)."""
    lines = ["default: allow", "rules:"]
    lines += [f"  - {{from: sidecar, to: app, ports: [{8000 + i % 100}], action: deny}}" for i in range(n_rules)]
    return "\n".join(lines) + "\n" + ("#" + "x" * (padding - 2) + "\n" if padding else "")


def big_pod(rules: str) -> dict:
    pod = make_pod(rules=rules)
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 8000 + i} for i in range(100)]
    return pod


def agent_renders(config_text: str, tmp_path) -> str:
    """The real agent CLI reading the file the downward-API volume projects."""
    path = tmp_path / "config"
    path.write_text(config_text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = probe_cli.main(["intrapod", "render", "--config-file", str(path), "--family", "4"])
    assert rc == 0, err.getvalue()
    return out.getvalue()


def test_a_150_kib_rule_list_reaches_the_init_container_without_the_argv_limit(tmp_path):
    rules = big_rules(2700)
    assert 150 * 1024 <= len(rules) < 256 * 1024
    pod = big_pod(rules)
    resp = mutate(pod)
    assert resp["allowed"] is True, resp.get("status")
    final = patched(pod, {"response": resp})
    init = final["spec"]["initContainers"][0]
    assert all(len(arg) < ARG_MAX_STRLEN for arg in init["command"])
    assert sum(map(len, init["command"])) < 200  # the command names a file, the rules are not in it
    assert len(init_config(final)["rules"]["rules"]) == 2700
    text = agent_renders(final["metadata"]["annotations"][CONFIG_ANNOTATION], tmp_path)
    assert text.count("--dport") == 100  # one rule per (UID, port): later duplicates are shadowed


def test_the_largest_annotation_the_api_server_accepts_is_enforced_and_one_byte_more_is_denied(tmp_path):
    # Fill the rules annotation until the mutated pod's annotations are exactly at the API
    # server's limit (256 KiB, keys and values together); the padding is a YAML comment.
    probe = big_pod(big_rules(4000))
    added = annotations_bytes(patched(probe, {"response": mutate(probe)})["metadata"]["annotations"])
    room = MAX_ANNOTATIONS_BYTES - added
    pod = big_pod(big_rules(4000, padding=room))
    resp = mutate(pod)
    assert resp["allowed"] is True, resp.get("status")
    final = patched(pod, {"response": resp})
    assert annotations_bytes(final["metadata"]["annotations"]) == MAX_ANNOTATIONS_BYTES
    assert len(pod["metadata"]["annotations"]["intrapod.kubereach.io/rules"]) > 250 * 1024
    assert agent_renders(final["metadata"]["annotations"][CONFIG_ANNOTATION], tmp_path).count("--dport") == 100

    over = big_pod(big_rules(4000, padding=room + 1))
    resp = mutate(over)
    assert resp["allowed"] is False
    assert f"the pod's annotations would take {MAX_ANNOTATIONS_BYTES + 1:,} bytes" in resp["status"]["message"]
