"""Whatever a client sends, the lab answers with a Status, never a 500."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 70000)
    | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=8,
)

container = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "A", ""]) | values},
    optional={
        "image": values,
        "ports": st.lists(
            st.fixed_dictionaries(
                {"containerPort": values}, optional={"protocol": values, "name": values, "hostPort": values}
            ),
            max_size=2,
        )
        | values,
        "securityContext": st.fixed_dictionaries({}, optional={"runAsUser": values}) | values,
        "volumeMounts": values,
        "env": values,
    },
)
pods = st.fixed_dictionaries(
    {
        "apiVersion": st.just("v1") | values,
        "kind": st.just("Pod") | values,
        "metadata": st.fixed_dictionaries(
            {"name": st.sampled_from(["fz", "Fz", ""]) | values},
            optional={"labels": values, "annotations": values, "ownerReferences": values, "generateName": values},
        )
        | values,
        "spec": st.fixed_dictionaries(
            {"containers": st.lists(container, max_size=2) | values},
            optional={
                "initContainers": st.lists(container, max_size=1),
                "volumes": values,
                "hostNetwork": values,
                "restartPolicy": values,
                "activeDeadlineSeconds": values,
                "ephemeralContainers": values,
            },
        )
        | values,
    }
)
port = st.fixed_dictionaries({}, optional={"port": values, "endPort": values, "protocol": values})
peer = st.fixed_dictionaries(
    {},
    optional={
        "podSelector": values,
        "namespaceSelector": values,
        "ipBlock": st.fixed_dictionaries(
            {"cidr": st.sampled_from(["10.0.0.0/8", "nope", "::/0"]) | values}, optional={"except": values}
        )
        | values,
    },
)
policies = st.fixed_dictionaries(
    {
        "apiVersion": st.just("networking.k8s.io/v1"),
        "kind": st.just("NetworkPolicy"),
        "metadata": st.fixed_dictionaries({"name": st.just("np") | values}),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "podSelector": st.fixed_dictionaries({}, optional={"matchLabels": values, "matchExpressions": values})
                | values,
                "policyTypes": values,
                "ingress": st.lists(
                    st.fixed_dictionaries(
                        {}, optional={"from": st.lists(peer, max_size=2), "ports": st.lists(port, max_size=2)}
                    ),
                    max_size=2,
                )
                | values,
                "egress": values,
            },
        )
        | values,
    }
)

OK = {200, 201, 400, 403, 404, 409, 415, 422}


def _post(api_lab, path: str, body) -> int:
    resp = api_lab.http().request(
        "POST",
        api_lab.url + path,
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {api_lab.token}", "Content-Type": "application/json"},
    )
    doc = json.loads(resp.data)
    assert resp.status in OK, (resp.status, doc)
    if resp.status >= 400:
        assert doc["kind"] == "Status" and doc["code"] == resp.status
    return resp.status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pods)
def test_random_pods_never_cause_a_server_error(api_lab, body):
    if _post(api_lab, "/api/v1/namespaces/default/pods", body) == 201:
        name = body["metadata"]["name"] if isinstance(body["metadata"], dict) else None
        if isinstance(name, str) and name:
            api_lab.core().delete_namespaced_pod(name, "default")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policies)
def test_random_network_policies_never_cause_a_server_error(api_lab, body):
    if _post(api_lab, "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies", body) == 201:
        api_lab.networking().delete_namespaced_network_policy("np", "default")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values)
def test_random_patches_never_cause_a_server_error(api_lab, patch):
    core = api_lab.core()
    if not core.list_namespaced_config_map("default", field_selector="metadata.name=fz-target").items:
        core.create_namespaced_config_map("default", {"metadata": {"name": "fz-target"}, "data": {"a": "b"}})
    for ctype in (
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ):
        resp = api_lab.http().request(
            "PATCH",
            api_lab.url + "/api/v1/namespaces/default/configmaps/fz-target",
            body=json.dumps(patch),
            headers={"Authorization": f"Bearer {api_lab.token}", "Content-Type": ctype},
        )
        assert resp.status in OK, (resp.status, resp.data[:300])


def _send(api_lab, method: str, path: str, body, ctype: str = "application/json"):
    resp = api_lab.http().request(
        method,
        api_lab.url + path,
        body=json.dumps(body),
        headers={"Authorization": f"Bearer {api_lab.token}", "Content-Type": ctype},
    )
    assert resp.status in OK, (resp.status, resp.data[:300])
    doc = json.loads(resp.data)
    if resp.status == 422:
        # an Invalid object names what is wrong: every cause has a field path. A patch that
        # cannot be applied at all says so in its message (the real API gives no causes either)
        causes = doc.get("details", {}).get("causes")
        if causes is None:
            assert doc["message"].startswith("the patch could not be applied: "), doc
        else:
            assert causes and all(c.get("field") for c in causes), doc
    return resp.status, doc


pod_patch = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries({}, optional={"labels": values, "annotations": values, "name": values})
        | values,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "containers": st.lists(container, max_size=2) | values,
                "activeDeadlineSeconds": values,
                "ephemeralContainers": values,
                "tolerations": values,
            },
        )
        | values,
        "status": values,
    },
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pod_patch,
    st.sampled_from(["", "/ephemeralcontainers", "/status"]),
    st.sampled_from(["application/merge-patch+json", "application/strategic-merge-patch+json"]),
)
def test_random_pod_patches_and_subresources_never_cause_a_server_error(api_lab, patch, sub, ctype):
    core = api_lab.core()
    if not core.list_namespaced_pod("default", field_selector="metadata.name=fz-pod").items:
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": "fz-pod", "labels": {"app": "fz"}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        )
    _send(api_lab, "PATCH", f"/api/v1/namespaces/default/pods/fz-pod{sub}", patch, ctype)


services = st.fixed_dictionaries(
    {
        "apiVersion": st.just("v1"),
        "kind": st.just("Service"),
        "metadata": st.fixed_dictionaries({"name": st.just("fz-svc") | values}),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "selector": values,
                "type": values,
                "clusterIP": values,
                "ports": st.lists(
                    st.fixed_dictionaries(
                        {}, optional={"port": values, "targetPort": values, "protocol": values, "name": values}
                    ),
                    max_size=2,
                )
                | values,
            },
        )
        | values,
    }
)
namespaces = st.fixed_dictionaries(
    {
        "apiVersion": st.just("v1"),
        "kind": st.just("Namespace"),
        "metadata": st.fixed_dictionaries(
            {"name": st.sampled_from(["fz-ns", "Fz"]) | values}, optional={"labels": values}
        ),
    }
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(services, namespaces)
def test_random_services_and_namespaces_never_cause_a_server_error(api_lab, svc, ns):
    status, _ = _send(api_lab, "POST", "/api/v1/namespaces/default/services", svc)
    if status == 201:
        api_lab.core().delete_namespaced_service("fz-svc", "default")
    status, _ = _send(api_lab, "POST", "/api/v1/namespaces", ns)
    if status == 201:
        api_lab.core().delete_namespace("fz-ns")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pods, st.sampled_from(["", "/ephemeralcontainers", "/status"]))
def test_random_pod_updates_never_cause_a_server_error(api_lab, body, sub):
    core = api_lab.core()
    if not core.list_namespaced_pod("default", field_selector="metadata.name=fz-put").items:
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": "fz-put", "labels": {"app": "fz"}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        )
    _send(api_lab, "PUT", f"/api/v1/namespaces/default/pods/fz-put{sub}", body)
