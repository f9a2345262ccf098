"""The Kubernetes adapter against the lab's API over HTTPS: plain dicts out, our errors."""

from __future__ import annotations

import pytest

from orchestrator.cluster.kube import Invalid, NotFound, load_cluster
from orchestrator.errors import UsageError

pytestmark = pytest.mark.lab


@pytest.fixture
def kube(enforce_lab):
    with load_cluster(enforce_lab.kubeconfig) as k:
        yield k


def test_reads_come_back_as_api_shaped_dicts_with_kind(kube):
    pods = kube.list_pods("shop-frontend")
    assert {p["metadata"]["name"] for p in pods} >= {"web-1", "web-2", "checkout-1"}
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods)
    assert all(p["status"]["podIP"] for p in pods)
    ns = kube.get_namespace("shop-data")
    assert ns["kind"] == "Namespace" and ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "shop-data"
    [pol] = [p for p in kube.list_network_policies("shop-data") if p["metadata"]["name"] == "redis-ingress"]
    assert pol["kind"] == "NetworkPolicy" and pol["apiVersion"] == "networking.k8s.io/v1"
    assert kube.call_counts() == {"get namespaces": 1, "list networkpolicies": 1, "list pods": 1}


def test_a_missing_pod_is_not_found_and_names_it(kube):
    with pytest.raises(NotFound, match="ghost"):
        kube.get_pod("shop-data", "ghost")
    with pytest.raises(NotFound):
        kube.add_ephemeral_container("shop-data", "ghost", {"name": "kr-x-0", "image": "img"})


def test_an_invalid_ephemeral_container_is_refused_with_the_field(kube):
    with pytest.raises(Invalid, match="(?i)name"):
        kube.add_ephemeral_container("shop-data", "redis-0", {"name": "Not_A_DNS_Label", "image": "img"})


def test_an_unknown_namespace_is_a_usage_error_in_discovery(kube):
    from orchestrator.cluster.discovery import discover

    with pytest.raises(UsageError, match="namespace 'nope' not found"):
        discover(kube, ["nope"])


MANAGED_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: kr-feedface-web-1-abcdef
  namespace: shop-frontend
  labels: {app: web, app.kubernetes.io/managed-by: kubereach, kubereach.io/sweep-id: feedface}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 60
  containers:
    - name: agent
      image: ghcr.io/kubereach/agent:0.1.0
      command: ["kubereach-probe", "run", "--spec", '{"kind":"KubereachProbeSpec","version":1,"id":"x","targets":[]}']
      securityContext: {runAsUser: 65532, runAsNonRoot: true}
"""


def test_discovery_never_returns_kubereach_workloads(kube, enforce_lab, tmp_path):
    from orchestrator.cluster.discovery import discover

    manifest = tmp_path / "managed.yaml"
    manifest.write_text(MANAGED_POD)
    enforce_lab.kubectl("create", "-f", str(manifest))
    try:
        assert "kr-feedface-web-1-abcdef" in {p["metadata"]["name"] for p in kube.list_pods("shop-frontend")}
        snap = discover(kube, None)
        assert {p.key for p in snap.pods} >= {"shop-frontend/web-1", "shop-data/redis-0"}
        assert "shop-frontend/kr-feedface-web-1-abcdef" not in {p.key for p in snap.pods}
    finally:
        enforce_lab.kubectl("delete", "-f", str(manifest))
