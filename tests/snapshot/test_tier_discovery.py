"""Live discovery of the policy tiers over real HTTP (a scripted API server): read by API group
and version when the CRDs are installed, a 404 said once as "not installed", an RBAC refusal
said and survived, Nodes read only when a nodes peer needs them; and ``kubereach predict``
with cluster flags predicting with them."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))  # the scripted API server
from sweep_scripted_api import ScriptedApi, status

from orchestrator.cluster.discovery import discover
from orchestrator.cluster.kube import load_cluster

GROUP = "/apis/policy.networking.k8s.io"
NOT_FOUND = status(404, "NotFound", "the server could not find the requested resource")
POD = {
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
    "status": {"podIP": "10.0.0.1"},
}
POD2 = {
    **POD,
    "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
    "status": {"podIP": "10.0.0.2"},
}
CNP = {
    "apiVersion": "policy.networking.k8s.io/v1alpha2",
    "kind": "ClusterNetworkPolicy",
    "metadata": {"name": "guard"},
    "spec": {
        "tier": "Admin",
        "priority": 1,
        "subject": {"namespaces": {}},
        "ingress": [{"action": "Deny", "from": [{"pods": {"podSelector": {"matchLabels": {"app": "web"}}}}]}],
        "egress": [{"action": "Deny", "to": [{"nodes": {}}]}],
    },
}
NODE = {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}


def serve(routes: dict[str, tuple[int, dict]]) -> ScriptedApi:
    """GETs of the listed paths answer as given; other cluster policy lists: 404 (not installed)."""

    def answer(method: str, path: str):
        if path in routes:
            return routes[path]
        if path.startswith(GROUP):
            return NOT_FOUND
        if path == "/api/v1/namespaces/shop/pods":
            return 200, {"kind": "PodList", "items": [POD, POD2]}
        return None

    return ScriptedApi(answer)


@pytest.fixture
def cluster(tmp_path):
    made = []

    def start(routes: dict[str, tuple[int, dict]]):
        api = serve(routes)
        cfg = tmp_path / "kc.yaml"
        cfg.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{api.port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u, namespace: shop}}}}]
current-context: lab
""")
        kube = load_cluster(str(cfg))
        made.append((api, kube))
        return api, kube, str(cfg)

    yield start
    for api, kube in made:
        kube.close()
        api.stop()


def test_no_crds_installed_is_said_once_and_discovery_goes_on(cluster):
    api, kube, _ = cluster({})
    snap = discover(kube, ["shop"], tiers=True)
    assert [p.key for p in snap.pods] == ["shop/web", "shop/db"] and not snap.cluster_policies
    assert snap.notes == (
        "ClusterNetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io) "
        "not installed in this cluster",
    )
    tier_paths = [p for _, p in api.requests if p.startswith(GROUP)]
    assert tier_paths == [
        f"{GROUP}/v1beta1/clusternetworkpolicies",
        f"{GROUP}/v1alpha2/clusternetworkpolicies",
        f"{GROUP}/v1alpha1/adminnetworkpolicies",
        f"{GROUP}/v1alpha1/baselineadminnetworkpolicies",
    ]
    assert "list nodes" not in kube.call_counts()  # no nodes peer: no Node read


def test_the_served_version_is_read_and_nodes_only_for_nodes_peers(cluster):
    api, kube, _ = cluster(
        {
            f"{GROUP}/v1alpha2/clusternetworkpolicies": (200, {"kind": "ClusterNetworkPolicyList", "items": [CNP]}),
            "/api/v1/nodes": (200, {"kind": "NodeList", "items": [NODE]}),
        }
    )
    snap = discover(kube, None, tiers=True)
    assert [p.key for p in snap.cluster_policies] == ["cnp/guard"]
    assert [(n.name, n.addresses) for n in snap.nodes] == [("n1", ("172.18.0.2",))]
    assert snap.notes == (
        "AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io) not installed in this cluster",
    )
    calls = kube.call_counts()
    assert calls["list clusternetworkpolicies"] == 2 and calls["list nodes"] == 1
    groups = {c.group for c in kube.calls if c.resource == "clusternetworkpolicies"}
    assert groups == {"policy.networking.k8s.io"}  # never networking.k8s.aws (EKS's kind of the same name)


def test_an_rbac_refusal_of_cluster_scoped_reads_is_said_and_survived(cluster):
    refused = status(403, "Forbidden", 'User "bob" cannot list resource "clusternetworkpolicies" at the cluster scope')
    _, kube, _ = cluster({f"{GROUP}/v1beta1/clusternetworkpolicies": refused})
    snap = discover(kube, ["shop"], tiers=True)
    assert len(snap.pods) == 2
    assert any(
        n.startswith("cannot read ClusterNetworkPolicy (policy.networking.k8s.io): RBAC refused") and "rbac.yaml" in n
        for n in snap.notes
    )


def test_without_tiers_discovery_is_as_before(cluster):
    api, kube, _ = cluster({})
    snap = discover(kube, ["shop"])
    assert not snap.notes and not [p for _, p in api.requests if p.startswith(GROUP)]


def test_predict_with_cluster_flags_predicts_with_the_tiers(cluster):
    _, _, cfg = cluster(
        {
            f"{GROUP}/v1beta1/clusternetworkpolicies": (
                200,
                {
                    "kind": "ClusterNetworkPolicyList",
                    "items": [{**CNP, "apiVersion": "policy.networking.k8s.io/v1beta1"}],
                },
            ),
            "/api/v1/nodes": (200, {"kind": "NodeList", "items": [NODE]}),
        }
    )
    kr = Path(sys.executable).parent / "kubereach"
    p = subprocess.run(
        [str(kr), "predict", "--kubeconfig", cfg, "-o", "csv"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr
    assert "1 cluster policies" in p.stderr
    assert p.stderr.count("not installed") == 1 and "Traceback" not in p.stderr
    rows = {(r["source"], r["destination"]): r for r in csv.DictReader(io.StringIO(p.stdout))}
    denied = rows[("shop/web", "shop/db")]
    assert denied["verdict"] == "deny" and "ingress: [Admin] cnp/guard rule 0 Deny" in denied["reason"]
    assert rows[("shop/db", "shop/web")]["verdict"] == "allow"
