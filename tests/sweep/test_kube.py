"""The Kubernetes adapter over real HTTP: answers become our errors, retries, the call log."""

from __future__ import annotations

import json

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
    assert server.requests_qs[-1] == ("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb&limit=500")
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


def test_retries_back_off_with_jitter_and_stay_bounded(api):
    _, kube = api
    draws = iter([0.0, 0.5, 0.999, 0.25])
    kube._rng = lambda: next(draws)
    assert kube.backoff_delay(0) == pytest.approx(0.1)  # 0.2 s scaled by 0.5
    assert kube.backoff_delay(0) == pytest.approx(0.2)
    assert kube.backoff_delay(3) == pytest.approx(1.6 * 1.499, rel=1e-3)  # the longest: under 2.4 s
    assert kube.backoff_delay(0, retry_after="60") == 5.0  # a server's Retry-After, capped


def test_many_clients_retrying_together_spread_out(api):
    _, kube = api
    import random

    kube._rng = random.Random(7).random
    delays = [kube.backoff_delay(1) for _ in range(50)]
    assert min(delays) >= 0.2 and max(delays) < 0.6 and len({round(d, 3) for d in delays}) > 40


def test_lists_are_read_in_pages_and_a_page_token_that_expired_restarts_the_list(api):
    server, kube = api
    pod = lambda n: {"metadata": {"name": n, "namespace": "shop"}}  # noqa: E731
    server.script += [
        (200, {"kind": "PodList", "metadata": {"resourceVersion": "7", "continue": "t1"}, "items": [pod("a")]}),
        status(410, "Expired", "The provided continue parameter is too old"),
        (200, {"kind": "PodList", "metadata": {"resourceVersion": "9", "continue": "t2"}, "items": [pod("a")]}),
        (200, {"kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": [pod("b"), pod("c")]}),
    ]
    pods, version = kube.list_pods_versioned("shop")
    assert [p["metadata"]["name"] for p in pods] == ["a", "b", "c"] and version == "9"
    qs = [q for _, q in server.requests_qs]
    assert qs == [
        "/api/v1/namespaces/shop/pods?limit=500",
        "/api/v1/namespaces/shop/pods?continue=t1&limit=500",
        "/api/v1/namespaces/shop/pods?limit=500",
        "/api/v1/namespaces/shop/pods?continue=t2&limit=500",
    ]


def test_a_watch_streams_events_follows_the_resource_version_and_ends_on_410(api):
    server, kube = api
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": "p", "resourceVersion": "11"}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
        {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}},
        {"type": "MODIFIED", "object": {"metadata": {"name": "never-read", "resourceVersion": "13"}}},
    ]
    server.script.append((200, "\n".join(json.dumps(e) for e in events) + "\n"))
    watch = kube.watch_pods("shop", resource_version="10", timeout_s=30, read_timeout_s=35)
    seen = [(kind, obj["metadata"].get("name")) for kind, obj in watch]
    assert seen == [("ADDED", "p"), ("BOOKMARK", None)]
    assert watch.gone and watch.resource_version == "12"
    (query,) = [q for _, q in server.requests_qs]
    assert "watch=true" in query and "resourceVersion=10" in query and "timeoutSeconds=30" in query
    assert "allowWatchBookmarks=true" in query
    assert kube.call_counts() == {"watch pods": 1}


def test_a_watch_error_other_than_410_is_a_cluster_error_with_the_status(api):
    server, kube = api
    bad = {"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError", "message": "boom"}}
    server.script.append((200, json.dumps(bad) + "\n"))
    with pytest.raises(ClusterError, match="the watch failed: 500 InternalError: boom"):
        list(kube.watch_pods("shop", resource_version="1", timeout_s=5, read_timeout_s=10))
    server.script.append((200, "<html>not json</html>\n"))
    with pytest.raises(ClusterError, match="not JSON"):
        list(kube.watch_pods("shop", resource_version="1", timeout_s=5, read_timeout_s=10))


def test_request_timeout_0_means_no_per_request_timeout_and_none_means_30s(tmp_path):
    """kubectl's meaning: a server that takes 1.5 s is cut by --request-timeout 1 and waited
    for with --request-timeout 0."""
    import time

    from orchestrator.cluster.kube import ApiUnreachable

    def slow(method, path):
        time.sleep(1.5)
        return None

    server = ScriptedApi(slow)
    try:
        cfg = tmp_path / "kc.yaml"
        cfg.write_text(
            f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u, namespace: shop}}}}]
current-context: lab
"""
        )
        assert load_cluster(str(cfg)).request_timeout == 30.0
        with load_cluster(str(cfg), request_timeout=0) as patient:
            assert patient.request_timeout is None
            assert patient.list_pods("shop") == []
        with load_cluster(str(cfg), request_timeout=1) as hasty:
            hasty._sleep = lambda s: None
            with pytest.raises(ApiUnreachable, match="timed out") as err:
                hasty.list_pods("shop")
            assert err.value.cause == "timed out"
    finally:
        server.stop()


def test_the_deadline_still_bounds_a_request_with_no_timeout(tmp_path):
    import socket
    import time

    from orchestrator.cluster.kube import DeadlinePassed

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts, never answers
    try:
        cfg = tmp_path / "kc.yaml"
        cfg.write_text(
            f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{listener.getsockname()[1]}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u}}}}]
current-context: lab
"""
        )
        with load_cluster(str(cfg), request_timeout=0) as kube:
            kube.deadline = time.monotonic() + 1.0
            started = time.monotonic()
            with pytest.raises(DeadlinePassed, match="deadline passed before list pods in namespace x"):
                kube.list_pods("x")
            assert time.monotonic() - started < 5
    finally:
        listener.close()
