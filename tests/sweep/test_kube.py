"""The Kubernetes adapter over real HTTP: answers become our errors, retries, the call log."""

from __future__ import annotations

import pytest
from sweep_scripted_api import ScriptedApi, status

from orchestrator.cluster.kube import Invalid, NotFound, load_cluster
from orchestrator.errors import ClusterError, UsageError


class FakeApi(ScriptedApi):
    """Answers from ``script`` in order, then an empty PodList."""

    def __init__(self):
        self.script: list[tuple[int, dict]] = []
        super().__init__(
            lambda method, path: self.script.pop(0) if self.script else (200, {"kind": "PodList", "items": []})
        )


@pytest.fixture
def api(tmp_path):
    server = FakeApi()
    cfg = tmp_path / "kc.yaml"
    cfg.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.port}"}}}}]
users: [{{name: u, user: {{token: secret-token}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u, namespace: shop}}}}]
current-context: lab
""")
    kube = load_cluster(str(cfg))
    kube._sleep = lambda s: None  # backoff without waiting
    yield server, kube
    kube.close()
    server.stop()


def test_context_namespace_and_items_come_back_as_plain_dicts_with_kind(api):
    server, kube = api
    assert (kube.info.context, kube.info.namespace) == ("lab", "shop")
    server.script.append((200, {"kind": "PodList", "items": [{"metadata": {"name": "p", "namespace": "shop"}}]}))
    [pod] = kube.list_pods("shop", label_selector="app=web")
    assert pod == {"metadata": {"name": "p", "namespace": "shop"}, "apiVersion": "v1", "kind": "Pod"}
    assert server.requests_qs[-1] == ("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")
    assert kube.call_counts() == {"list pods": 1}


def test_403_names_verb_resource_and_the_manifest_that_grants_it(api):
    server, kube = api
    server.script.append(status(403, "Forbidden", 'pods "p" is forbidden: User "bob" cannot patch resource'))
    with pytest.raises(UsageError) as err:
        kube.add_ephemeral_container("shop", "p", {"name": "x"})
    text = str(err.value)
    assert "cannot patch pods/ephemeralcontainers" in text and "in namespace shop" in text
    assert "manifests/rbac.yaml" in text and "kubereach-sweep" in text


def test_401_is_a_usage_error_about_credentials(api):
    server, kube = api
    server.script.append(status(401, "Unauthorized", "Unauthorized"))
    with pytest.raises(UsageError, match="401 Unauthorized"):
        kube.list_namespaces()


def test_429_and_5xx_are_retried_then_succeed_and_every_attempt_is_counted(api):
    server, kube = api
    server.script += [
        status(429, "TooManyRequests", "slow down"),
        status(503, "ServiceUnavailable", "x"),
        (200, {"kind": "PodList", "items": []}),
    ]
    assert kube.list_pods("shop") == []
    assert kube.call_count == 3


def test_5xx_that_persists_becomes_a_cluster_error_with_the_message(api):
    server, kube = api
    server.script += [status(500, "InternalError", "etcd is sad")] * 5
    with pytest.raises(ClusterError, match="answered 500 5 times: etcd is sad"):
        kube.list_pods("shop")


def test_404_and_422_are_per_object_errors(api):
    server, kube = api
    server.script.append(status(404, "NotFound", 'pods "ghost" not found'))
    with pytest.raises(NotFound, match="ghost"):
        kube.get_pod("shop", "ghost")
    server.script.append(status(422, "Invalid", "spec.ephemeralContainers[0].name: Invalid value"))
    with pytest.raises(Invalid, match=r"spec.ephemeralContainers\[0\].name"):
        kube.add_ephemeral_container("shop", "p", {"name": "BAD"})


def test_ephemeral_container_is_a_strategic_merge_patch_of_the_subresource(api):
    server, kube = api
    server.script.append((200, {"kind": "Pod", "metadata": {"name": "p"}}))
    kube.add_ephemeral_container("shop", "p", {"name": "kr-1-0"})
    assert server.requests[-1] == ("PATCH", "/api/v1/namespaces/shop/pods/p/ephemeralcontainers")


def test_a_passed_deadline_is_a_cluster_error_before_any_request(api):
    import time

    server, kube = api
    kube.deadline = time.monotonic() - 1
    with pytest.raises(ClusterError, match="deadline passed"):
        kube.list_pods("shop")
    assert server.requests == []


def test_pod_security_refusal_is_an_admission_error_not_rbac(api):
    from orchestrator.cluster.kube import AdmissionDenied

    server, kube = api
    server.script.append(
        status(
            403,
            "Forbidden",
            'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
            'non-default capabilities (container "kr" must not include "NET_RAW")',
        )
    )
    with pytest.raises(AdmissionDenied, match="NET_RAW"):
        kube.add_ephemeral_container("shop", "p", {"name": "kr"})


def test_a_namespaced_role_that_cannot_read_namespaces_still_discovers(api):
    from orchestrator.cluster.discovery import discover

    server, kube = api
    server.script += [
        status(
            403,
            "Forbidden",
            'namespaces "shop" is forbidden: User "bob" cannot get resource "namespaces" '
            'in API group "" at the cluster scope',
        ),
        (
            200,
            {
                "kind": "PodList",
                "items": [
                    {
                        "metadata": {"name": "p", "namespace": "shop", "labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c"}]},
                        "status": {"podIP": "10.0.0.1", "phase": "Running"},
                    }
                ],
            },
        ),
        (200, {"kind": "ServiceList", "items": []}),
        (200, {"kind": "NetworkPolicyList", "items": []}),
    ]
    snap = discover(kube, ["shop"])
    assert [p.key for p in snap.pods] == ["shop/p"]
    assert dict(snap.namespaces["shop"].labels) == {"kubernetes.io/metadata.name": "shop"}
    assert [r[0] for r in server.requests] == ["GET"] * 4
