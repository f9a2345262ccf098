"""AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decisions, as the spec reads."""

from __future__ import annotations

import copy

import pytest
from webhook_helpers import decode_patch, init_config, make_pod, make_review, patched

from probe.schema import DEFAULT_AGENT_IMAGE
from webhook.admission import BadReview, Mode, Settings, review

SETTINGS = Settings()


def mutate(pod):
    return review(make_review(pod), Mode.MUTATE, SETTINGS)


def validate(pod, **kw):
    return review(make_review(pod, **kw), Mode.VALIDATE, SETTINGS)


def test_pod_without_rules_annotation_is_allowed_untouched():
    pod = make_pod(rules=None)
    out = mutate(pod)
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["allowed"] is True
    assert "patch" not in out["response"] and "patchType" not in out["response"]
    assert validate(pod)["response"]["allowed"] is True


def test_response_echoes_the_request_uid():
    req = make_review(make_pod())
    assert review(req, Mode.MUTATE, SETTINGS)["response"]["uid"] == req["request"]["uid"]


def test_annotated_pod_gets_the_init_container_first_with_the_rules_and_uid_map():
    pod = make_pod(init_containers=[{"name": "migrate", "image": "busybox"}])
    out = mutate(pod)
    assert out["response"]["allowed"] is True
    ops = decode_patch(out)
    assert {k: ops[-1][k] for k in ("op", "path")} == {"op": "add", "path": "/spec/initContainers/0"}
    final = patched(pod, out)
    names = [c["name"] for c in final["spec"]["initContainers"]]
    assert names == ["kubereach-intrapod", "migrate"]
    init = final["spec"]["initContainers"][0]
    assert init["image"] == DEFAULT_AGENT_IMAGE
    # the config reaches it as a file (a downward-API projection of an annotation): no argv limit
    assert init["command"] == [
        "kubereach-probe",
        "intrapod",
        "apply",
        "--config-file",
        "/etc/kubereach/intrapod/config",
    ]
    assert init["volumeMounts"] == [
        {"name": "kubereach-intrapod-config", "mountPath": "/etc/kubereach/intrapod", "readOnly": True}
    ]
    assert final["spec"]["volumes"] == [
        {
            "name": "kubereach-intrapod-config",
            "downwardAPI": {
                "defaultMode": 0o444,
                "items": [
                    {
                        "path": "config",
                        "fieldRef": {
                            "apiVersion": "v1",
                            "fieldPath": "metadata.annotations['intrapod.kubereach.io/config']",
                        },
                    }
                ],
            },
        }
    ]
    assert init_config(final) == {
        # the named port "http" is resolved, so the init container needs no port names
        "rules": {
            "default": "allow",
            "rules": [{"from": "sidecar", "to": "app", "ports": ["8080/TCP"], "action": "deny"}],
        },
        "containers": [
            {"name": "app", "uid": 1000, "ports": ["8080/TCP", "9090/UDP"]},
            {"name": "sidecar", "uid": 1001, "ports": ["15000/TCP"]},
        ],
    }
    assert final["metadata"]["annotations"]["intrapod.kubereach.io/injected"].startswith("sha256:")


def test_init_container_has_only_net_admin_and_net_raw_and_a_read_only_root():
    final = patched(make_pod(), mutate(make_pod()))
    sc = final["spec"]["initContainers"][0]["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["runAsUser"] == 0 and sc["runAsNonRoot"] is False
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # make_pod() is BestEffort (no resources anywhere): so is its init container (test_webhook_qos.py)
    assert final["spec"]["initContainers"][0]["resources"] == {}


def test_pod_without_init_containers_gets_the_array_added():
    out = mutate(make_pod())
    paths = [op["path"] for op in decode_patch(out)]
    assert "/spec/initContainers" in paths


def test_agent_image_is_configurable():
    out = review(make_review(make_pod()), Mode.MUTATE, Settings(agent_image="registry.corp/kubereach/agent:7"))
    assert patched(make_pod(), out)["spec"]["initContainers"][0]["image"] == "registry.corp/kubereach/agent:7"


def test_already_mutated_pod_gets_an_empty_patch():
    once = patched(make_pod(), mutate(make_pod()))
    out = mutate(once)
    assert out["response"]["allowed"] is True
    assert decode_patch(out) == []
    assert "patchType" not in out["response"]


def test_a_mutated_pod_as_the_api_server_stores_it_gets_an_empty_patch_on_readmission():
    # The API server defaults every container after the patch (terminationMessagePath):
    # `kubectl get pod -o yaml` of a mutated pod, applied again, must not be patched.
    stored = patched(make_pod(), mutate(make_pod()))
    for c in stored["spec"]["initContainers"] + stored["spec"]["containers"]:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    out = mutate(stored)
    assert out["response"]["allowed"] is True and decode_patch(out) == []
    assert validate(stored)["response"]["allowed"] is True
    # ... but a field that changes what the init container does is put back
    stored["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    ops = decode_patch(mutate(stored))
    assert [op["op"] for op in ops] == ["replace"]
    assert "restartPolicy" not in patched(stored, mutate(stored))["spec"]["initContainers"][0]


def test_a_mutated_copy_with_changed_rules_gets_the_new_config_and_keeps_one_init_container():
    once = patched(make_pod(), mutate(make_pod()))
    edited = copy.deepcopy(once)
    edited["metadata"]["annotations"]["intrapod.kubereach.io/rules"] = "default: deny"
    out = mutate(edited)
    ops = decode_patch(out)
    assert not [op for op in ops if op["path"].startswith("/spec/")]  # same init container, same volume
    assert {op["path"] for op in ops} == {
        "/metadata/annotations/intrapod.kubereach.io~1config",
        "/metadata/annotations/intrapod.kubereach.io~1injected",
    }
    final = patched(edited, out)
    assert len(final["spec"]["initContainers"]) == 1 and len(final["spec"]["volumes"]) == 1
    assert init_config(final)["rules"] == {"default": "deny", "rules": []}
    assert decode_patch(mutate(final)) == []


def test_invalid_rules_are_denied_with_every_problem_listed():
    rules = """\
default: maybe
rules:
  - from: sidecar
    to: nosuch
    action: deny
  - from: app
    to: sidecar
    ports: [8081, "70000", "53/ICMP"]
    action: block
  - to: app
    action: allow
    colour: blue
"""
    out = mutate(make_pod(rules=rules))
    resp = out["response"]
    assert resp["allowed"] is False and "patch" not in resp
    assert resp["status"]["code"] == 403
    msg = resp["status"]["message"]
    for fragment in [
        "default: expected allow or deny",
        "rules[0].to: no container named 'nosuch'",
        "rules[1].ports[0]: 8081/TCP is not declared",
        "rules[1].ports[1]: port 70000",
        "rules[1].ports[2]: unknown protocol 'ICMP'",
        "rules[1].action: expected allow or deny",
        "rules[2].from: required",
        "rules[2].colour: unknown field",
    ]:
        assert fragment in msg, fragment
    assert "(8 problems)" in msg


def test_unparseable_yaml_is_denied_naming_the_annotation():
    resp = mutate(make_pod(rules="rules: [unclosed"))["response"]
    assert resp["allowed"] is False
    assert "intrapod.kubereach.io/rules: invalid YAML at line 2, column 1" in resp["status"]["message"]


def test_shared_uid_is_denied():
    resp = mutate(make_pod(app_uid=1000, sidecar_uid=1000))["response"]
    assert resp["allowed"] is False
    assert "share UID 1000" in resp["status"]["message"]


def test_pod_level_uid_shared_by_all_containers_is_denied():
    resp = mutate(make_pod(app_uid=None, sidecar_uid=None, pod_security={"runAsUser": 2000}))["response"]
    assert resp["allowed"] is False
    assert "share UID 2000" in resp["status"]["message"]


def test_root_uid_is_denied():
    resp = mutate(make_pod(app_uid=0))["response"]
    assert resp["allowed"] is False
    assert "'app' runs as UID 0" in resp["status"]["message"]


def test_missing_uid_is_denied_and_both_problems_are_listed():
    resp = mutate(make_pod(app_uid=None, sidecar_uid=None))["response"]
    msg = resp["status"]["message"]
    assert resp["allowed"] is False
    assert "'app' has no runAsUser" in msg and "'sidecar' has no runAsUser" in msg


def test_container_with_net_admin_is_denied():
    pod = make_pod()
    pod["spec"]["containers"][1]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"]}
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False and "'sidecar' has NET_ADMIN" in resp["status"]["message"]


def test_host_network_pod_is_denied():
    pod = make_pod()
    pod["spec"]["hostNetwork"] = True
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False and "spec.hostNetwork" in resp["status"]["message"]


def test_container_uid_overrides_the_pod_uid():
    pod = make_pod(app_uid=1000, sidecar_uid=None, pod_security={"runAsUser": 3000})
    final = patched(pod, mutate(pod))
    assert {c["name"]: c["uid"] for c in init_config(final)["containers"]} == {"app": 1000, "sidecar": 3000}


def test_assign_uids_gives_distinct_uids_from_10000_skipping_used_ones():
    pod = make_pod(
        app_uid=None,
        sidecar_uid=None,
        pod_security={"runAsUser": 10000},
        annotations={"intrapod.kubereach.io/assign-uids": "true"},
        init_containers=[{"name": "migrate", "image": "x", "securityContext": {"runAsUser": 10001}}],
    )
    out = mutate(pod)
    assert out["response"]["allowed"] is True
    final = patched(pod, out)
    app, sidecar = final["spec"]["containers"]
    assert app["securityContext"] == {"runAsUser": 10002, "runAsNonRoot": True}
    assert sidecar["securityContext"] == {"runAsUser": 10003, "runAsNonRoot": True}
    ann = final["metadata"]["annotations"]
    assert ann["intrapod.kubereach.io/assigned-uids"] == "app=10002,sidecar=10003"
    assert {c["name"]: c["uid"] for c in init_config(final)["containers"]} == {"app": 10002, "sidecar": 10003}
    assert "app=10002,sidecar=10003" in " ".join(out["response"]["warnings"])
    assert decode_patch(mutate(final)) == []  # idempotent after assignment


def test_assign_uids_keeps_explicit_uids_and_fills_existing_security_contexts():
    pod = make_pod(app_uid=1000, sidecar_uid=None, annotations={"intrapod.kubereach.io/assign-uids": "true"})
    pod["spec"]["containers"][1]["securityContext"] = {"readOnlyRootFilesystem": True}
    final = patched(pod, mutate(pod))
    assert final["spec"]["containers"][0]["securityContext"] == {"runAsUser": 1000}
    assert final["spec"]["containers"][1]["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "runAsUser": 10000,
        "runAsNonRoot": True,
    }


def test_assign_uids_does_not_rescue_an_explicit_root_container():
    pod = make_pod(app_uid=0, sidecar_uid=None, annotations={"intrapod.kubereach.io/assign-uids": "true"})
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False and "'app' runs as UID 0" in resp["status"]["message"]


def test_validate_denies_an_annotated_pod_that_bypassed_mutation():
    resp = validate(make_pod())["response"]
    assert resp["allowed"] is False
    assert "init container 'kubereach-intrapod' is missing" in resp["status"]["message"]


def test_validate_allows_the_mutated_pod_even_behind_another_init_container():
    final = patched(make_pod(), mutate(make_pod()))
    assert validate(final)["response"]["allowed"] is True
    final["spec"]["initContainers"].insert(0, {"name": "mesh-init", "image": "mesh"})
    assert validate(final)["response"]["allowed"] is True


def test_validate_denies_a_pod_whose_init_config_no_longer_matches_its_rules():
    final = patched(make_pod(), mutate(make_pod()))
    final["metadata"]["annotations"]["intrapod.kubereach.io/rules"] = "default: deny"
    msg = validate(final)["response"]["status"]["message"]
    assert "intrapod.kubereach.io/config does not carry the config the rules give" in msg
    assert "intrapod.kubereach.io/injected does not match" in msg


def test_validate_denies_uids_changed_after_mutation():
    final = patched(make_pod(), mutate(make_pod()))
    final["spec"]["containers"][1]["securityContext"]["runAsUser"] = 1000
    resp = validate(final)["response"]
    assert resp["allowed"] is False and "share UID 1000" in resp["status"]["message"]


def test_validate_refuses_changing_the_rules_of_a_running_pod_but_allows_other_updates():
    old = patched(make_pod(), mutate(make_pod()))
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"]["tier"] = "front"
    assert validate(relabelled, operation="UPDATE", old=old)["response"]["allowed"] is True
    edited = copy.deepcopy(old)
    edited["metadata"]["annotations"]["intrapod.kubereach.io/rules"] = "default: deny"
    resp = validate(edited, operation="UPDATE", old=old)["response"]
    assert resp["allowed"] is False and "cannot change on a running pod" in resp["status"]["message"]


def test_non_pod_objects_and_updates_pass_the_mutating_webhook_untouched():
    assert mutate_kind("ConfigMap")["response"] == {"uid": "x", "allowed": True}
    out = review(make_review(make_pod(), operation="UPDATE", old=make_pod()), Mode.MUTATE, SETTINGS)
    assert out["response"]["allowed"] is True and "patch" not in out["response"]


def mutate_kind(kind):
    req = make_review(make_pod(), kind=kind)
    req["request"]["uid"] = "x"
    return review(req, Mode.MUTATE, SETTINGS)


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"kind": "Pod"}, "expected an AdmissionReview"),
        (
            {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1", "request": {"uid": "1"}},
            "unsupported apiVersion",
        ),
        ({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}, "no request.uid"),
        ([], "expected an AdmissionReview"),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"uid": "1", "kind": "Pod", "object": {}},
            },
            r"request.kind: expected an object, got str",
        ),
        (
            {
                "kind": "AdmissionReview",
                "apiVersion": "admission.k8s.io/v1",
                "request": {"uid": "1", "kind": {"kind": "Pod"}, "object": []},
            },
            r"request.object: expected an object",
        ),
    ],
)
def test_malformed_reviews_are_rejected(body, fragment):
    with pytest.raises(BadReview, match=fragment):
        review(body, Mode.MUTATE, SETTINGS)


def test_annotations_map_is_created_when_absent():
    # a pod can only carry rules in annotations, but assign-uids paths and the
    # injected annotation must also work when other annotations are absent
    from webhook.admission import _annotation_patch

    assert _annotation_patch({"metadata": {}}, {"a/b": "1"}) == [
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}}
    ]
    assert _annotation_patch({"metadata": {"annotations": {"x": "y"}}}, {"a/b": "1"}) == [
        {"op": "add", "path": "/metadata/annotations/a~1b", "value": "1"}
    ]


def test_a_port_declared_by_two_containers_is_denied():
    pod = make_pod()
    pod["spec"]["containers"][1]["ports"].append({"containerPort": 8080})
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False
    assert "port 8080/TCP is declared by containers 'app', 'sidecar'" in resp["status"]["message"]


def test_an_annotated_pod_with_fields_of_the_wrong_type_is_denied_naming_the_field():
    # The API server only sends pods it decoded into their Go types; a hand-made request
    # with a wrong type is read by the same translation as predict's and denied, never a crash.
    pod = make_pod()
    pod["spec"]["containers"][0]["securityContext"] = ["runAsUser", 1000]
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False
    assert "spec.containers[0].securityContext: expected a mapping, got list" in resp["status"]["message"]


@pytest.mark.parametrize(
    "capabilities, field",
    [({"add": "NET_ADMIN"}, "capabilities.add: expected a list"), ("NET_ADMIN", "capabilities: expected a mapping")],
)
def test_capabilities_that_are_not_lists_are_denied_never_ignored(capabilities, field):
    pod = make_pod()
    pod["spec"]["containers"][1]["securityContext"]["capabilities"] = capabilities
    resp = mutate(pod)["response"]
    assert resp["allowed"] is False and field in resp["status"]["message"]


def test_a_container_added_by_a_later_mutating_webhook_is_taken_in_on_reinvocation():
    """A mesh's injector running after ours adds a sidecar: the config we injected is stale,
    so the validating webhook denies the pod, unless the API server reinvokes us
    (reinvocationPolicy: IfNeeded), which updates the init container in place."""
    once = patched(make_pod(), mutate(make_pod()))
    meshed = copy.deepcopy(once)
    meshed["spec"]["containers"].append(
        {
            "name": "mesh-proxy",
            "image": "proxy",
            "ports": [{"containerPort": 15090}],
            "securityContext": {"runAsUser": 1337},
        }
    )
    resp = validate(meshed)["response"]
    assert resp["allowed"] is False and "does not carry the config the rules give" in resp["status"]["message"]
    reinvoked = mutate(meshed)
    ops = decode_patch(reinvoked)
    assert not [op for op in ops if op["path"].startswith("/spec/")]  # only the config annotation changes
    final = patched(meshed, reinvoked)
    assert [c["name"] for c in final["spec"]["initContainers"]] == ["kubereach-intrapod"]
    assert {c["name"]: c["uid"] for c in init_config(final)["containers"]} == {
        "app": 1000,
        "sidecar": 1001,
        "mesh-proxy": 1337,
    }
    assert validate(final)["response"]["allowed"] is True
    assert decode_patch(mutate(final)) == []
