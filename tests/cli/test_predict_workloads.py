"""``kubereach predict`` on real applications' manifests, the way a user runs it.

Workloads of every kind (helm-template output with ``---``, comments and Lists, with a
kustomization.yaml beside), ``--replicas``, folding of a cluster dump, validation errors,
input without pods, objects without a namespace (-n, the kubeconfig context, default),
non-Kubernetes YAML, synthetic IPs, per-pod labels, and a live cluster whose pods are
grouped by workload in the table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workload_manifests import KINDS, dump, workload

BIN = Path(sys.executable).parent


def run(*args: str, stdin: str | None = None, env: dict | None = None, cwd: Path | None = None):
    base = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [str(BIN / "kubereach"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def helm_template_output() -> str:
    """What `helm template` prints: `# Source:` comments, empty documents, a List."""
    parts = [
        "---\n# Source: shop/templates/deployment.yaml\n" + dump(workload("Deployment", "web", replicas=3)),
        "---\n# Source: shop/templates/empty.yaml\n",
        "---\n# Source: shop/templates/all.yaml\n"
        + dump({"apiVersion": "v1", "kind": "List", "items": [workload(k, k.lower()) for k in KINDS[1:]]}),
        "---\n# Source: shop/templates/cm.yaml\n"
        + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n",
    ]
    return "".join(parts)


@pytest.fixture
def helm_dir(tmp_path):
    (tmp_path / "rendered.yaml").write_text(helm_template_output())
    (tmp_path / "kustomization.yaml").write_text("resources: [rendered.yaml]\n")
    return tmp_path


def test_every_workload_kind_shows_as_one_representative_with_its_kind(helm_dir):
    table = run("predict", "-f", str(helm_dir))
    assert table.returncode == 0, table.stderr
    for kind, name in [("Deployment", "web")] + [(k, k.lower()) for k in KINDS[1:]]:
        assert f"shop/{name} [{kind}]" in table.stdout
    assert "loaded 7 pods (7 workloads as one representative pod each: CronJob x1, DaemonSet x1" in table.stderr
    assert "skipped ConfigMap x1, kustomization.yaml (not a Kubernetes object) x1" in table.stderr
    assert "kubectl kustomize" in table.stderr
    doc = json.loads(run("predict", "-f", str(helm_dir), "-o", "json").stdout)
    kinds = {p["pod"]: (p["kind"], p["workload"], p["representative"]) for p in doc["pods"]}
    assert kinds["shop/web"] == ("Deployment", "shop/web", True) and kinds["shop/cronjob"][0] == "CronJob"
    out = run("predict", "-f", str(helm_dir), "-o", "csv")
    assert out.stdout.splitlines()[0] == "source,destination,port,protocol,verdict,reason"
    pod_rows = [r for r in rows(out.stdout) if r["source"].count("/") == 1]
    assert {r["source"] for r in pod_rows} == {f"shop/{n}" for n in ["web"] + [k.lower() for k in KINDS[1:]]}
    intra = [r for r in rows(out.stdout) if r["source"].count("/") == 2]  # intra-pod rules on the templates
    assert ("shop/web/helper", "shop/web/main", "8080", "deny") in {
        (r["source"], r["destination"], r["port"], r["verdict"]) for r in intra
    }


def test_the_same_helm_output_on_stdin_gives_the_same_rows(helm_dir):
    from_dir = run("predict", "-f", str(helm_dir), "-o", "csv")
    from_stdin = run("predict", "-f", "-", "-o", "csv", stdin=helm_template_output())
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == from_dir.stdout


def test_replicas_expands_every_workload_with_the_controllers_names(helm_dir):
    out = run("predict", "-f", str(helm_dir), "--replicas", "-o", "csv")
    assert out.returncode == 0, out.stderr
    sources = {r["source"] for r in rows(out.stdout) if r["source"].count("/") == 1}
    assert {"shop/statefulset-0", "shop/statefulset-1"} <= sources
    web = sorted(s for s in sources if s.startswith("shop/web-"))
    assert len(web) == 3 and all(re.fullmatch(r"shop/web-[a-z0-9]{8,10}-[a-z0-9]{5}", s) for s in web)
    # Deployment 3 + ReplicaSet 2 + StatefulSet 2 + DaemonSet 1 (assumed node) + Job 1 + CronJob 1 + RC 2
    assert len(sources) == 12
    assert (
        "as their declared replicas" in out.stderr and "no Node objects in the input: assuming one node" in out.stderr
    )
    table = run("predict", "-f", str(helm_dir), "--replicas")
    assert "shop/web [Deployment, 3 pods]" in table.stdout and "shop/statefulset [StatefulSet, 2 pods]" in table.stdout
    assert "statefulset-0, statefulset-1" in table.stdout  # the pods each row stands for


def _cluster_dump() -> str:
    """`kubectl get deploy,rs,pods -n shop -o yaml`: a List with status and ownerReferences."""
    deploy = workload("Deployment", "web")
    deploy["metadata"]["uid"] = "d1"
    rs = workload("ReplicaSet", "web-6b7f9d8c5d")
    rs["metadata"].update(
        uid="r1",
        labels={"app": "web", "pod-template-hash": "6b7f9d8c5d"},
        ownerReferences=[
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d1", "controller": True}
        ],
    )
    rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] = "6b7f9d8c5d"
    rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "6b7f9d8c5d"
    pods = []
    for suffix, ip in (("k2x9q", "10.4.0.7"), ("zz5bd", "10.4.0.8")):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"web-6b7f9d8c5d-{suffix}",
                "namespace": "shop",
                "labels": {"app": "web", "pod-template-hash": "6b7f9d8c5d"},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6b7f9d8c5d", "uid": "r1"}
                ],
            },
            "spec": {"containers": [{"name": "main", "image": "nginx", "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
        }
        pods.append(pod)
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [deploy, rs, *pods]})


def test_a_cluster_dump_folds_replicasets_and_pods_into_their_deployment(tmp_path):
    (tmp_path / "dump.yaml").write_text(_cluster_dump())
    out = run("predict", "-f", str(tmp_path), "-o", "csv")
    assert out.returncode == 0, out.stderr
    assert {r["source"] for r in rows(out.stdout) if r["source"].count("/") == 1} == {"shop/web"}
    assert "folded 2 pods and 1 ReplicaSets/Jobs into the workloads in the input that own them" in out.stderr
    assert "synthetic" not in out.stderr  # the representative has the dump's pod IP
    replicas = run("predict", "-f", str(tmp_path), "--replicas", "-o", "csv")
    assert {r["source"] for r in rows(replicas.stdout) if r["source"].count("/") == 1} == {
        "shop/web-6b7f9d8c5d-k2x9q",
        "shop/web-6b7f9d8c5d-zz5bd",
    }


def test_a_selector_the_api_server_refuses_is_refused_not_evaluated(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        dump(workload("Deployment", "web"))
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
        + "spec:\n  podSelector: {matchLabels: {'app@x': '$bad value'}}\n"
    )
    out = run("predict", "-f", str(bad), "-o", "csv")
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert (
        f"{bad}, document 2, NetworkPolicy shop/p, field spec.podSelector.matchLabels: invalid label key 'app@x'"
        in out.stderr
    )


def test_input_without_pods_says_so_and_exits_2(tmp_path):
    (tmp_path / "policies.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
        "spec: {podSelector: {}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: shop}\n"
    )
    out = run("predict", "-f", str(tmp_path))
    assert out.returncode == 2 and out.stdout == ""
    assert "no pods in the input: it holds no Pods and no workloads (Deployment, StatefulSet" in out.stderr
    assert "it holds 1 network policies" in out.stderr and "skipped Secret x1" in out.stderr
    (tmp_path / "policies.yaml").write_text(dump(workload("Deployment", "web", replicas=0)))
    zero = run("predict", "-f", str(tmp_path), "--replicas")
    assert zero.returncode == 2 and "every workload in the input declares 0 replicas" in zero.stderr
    assert run("predict", "-f", str(tmp_path)).returncode == 0  # its representative still shows


@pytest.fixture
def no_namespace(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "app.yaml").write_text(
        dump(workload("Deployment", "web", namespace=None), workload("StatefulSet", "db", namespace=None))
    )
    return d


def _sources(out) -> set[str]:
    return {r["source"] for r in rows(out.stdout) if r["source"].count("/") == 1}


def test_objects_without_a_namespace_take_n(no_namespace, tmp_path):
    out = run("predict", "-f", str(no_namespace), "-n", "team-a", "-o", "csv", env={"HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert _sources(out) == {"team-a/web", "team-a/db"}
    assert "2 objects name no namespace: put in namespace team-a (from -n" in out.stderr
    two = run("predict", "-f", str(no_namespace), "-n", "a", "-n", "b")
    assert two.returncode == 2 and "-n names the one namespace" in two.stderr
    bad = run("predict", "-f", str(no_namespace), "-n", "Team_A")
    assert bad.returncode == 2 and "not a valid namespace name" in bad.stderr and "Traceback" not in bad.stderr


def test_objects_without_a_namespace_take_the_kubeconfig_contexts_namespace(no_namespace, tmp_path):
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dev, context: {cluster: c, user: u, namespace: payments}}]\ncurrent-context: dev\n"
    )
    out = run(
        "predict", "-f", str(no_namespace), "-o", "csv", env={"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    )
    assert out.returncode == 0, out.stderr
    assert _sources(out) == {"payments/web", "payments/db"}
    assert "put in namespace payments (from kubeconfig context dev" in out.stderr


def test_objects_without_a_namespace_and_no_kubeconfig_go_to_default(no_namespace, tmp_path):
    out = run("predict", "-f", str(no_namespace), "-o", "csv", env={"HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    if not Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").exists():
        assert _sources(out) == {"default/web", "default/db"}
        assert "put in namespace default (from default" in out.stderr


def test_non_kubernetes_yaml_is_skipped_and_counted_but_a_broken_object_still_fails(tmp_path):
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("replicaCount: 3\nservice: {port: 80}\n")
    (chart / "templates" / "web.yaml").write_text("kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\n")
    (tmp_path / "app.yaml").write_text(dump(workload("Deployment", "web")))
    out = run("predict", "-f", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (
        "Chart.yaml (not a Kubernetes object) x1" in out.stderr
        and "values.yaml (not a Kubernetes object) x1" in out.stderr
    )
    assert f"Helm chart templates ({chart}/templates/) x1" in out.stderr and "helm template CHART" in out.stderr
    broken = workload("Deployment", "api")
    del broken["spec"]["selector"]
    (tmp_path / "broken.yaml").write_text(dump(broken))
    failed = run("predict", "-f", str(tmp_path))
    assert failed.returncode == 2 and "Deployment shop/api, field spec.selector: required" in failed.stderr


def test_synthetic_ips_are_said_once_on_stderr_and_the_csv_contract_holds(tmp_path):
    (tmp_path / "app.yaml").write_text(dump(workload("Deployment", "web"), workload("Deployment", "api")))
    out = run("predict", "-f", str(tmp_path), "-o", "csv")
    assert out.stderr.count("198.18.0.0/15") == 1 and "ipBlock verdicts for them are not meaningful" in out.stderr
    assert list(rows(out.stdout)[0]) == ["source", "destination", "port", "protocol", "verdict", "reason"]
    doc = json.loads(run("predict", "-f", str(tmp_path), "-o", "json").stdout)
    assert all(p["synthetic_ip"] and p["ips"][0].startswith("198.18.") for p in doc["pods"])


def test_a_policy_on_per_pod_labels_needs_replicas_and_says_so(tmp_path):
    db = workload("StatefulSet", "db", replicas=2)
    (tmp_path / "app.yaml").write_text(
        dump(db, workload("Deployment", "web"))
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        + "metadata: {name: primary-only, namespace: shop}\n"
        + "spec:\n  podSelector: {matchLabels: {statefulset.kubernetes.io/pod-name: db-0}}\n"
        + "  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]\n"
    )
    rep = run("predict", "-f", str(tmp_path), "-o", "csv")
    assert "shop/primary-only selects on the per-pod label statefulset.kubernetes.io/pod-name" in rep.stderr
    assert "use --replicas" in rep.stderr
    out = run("predict", "-f", str(tmp_path), "--replicas", "-o", "csv")
    verdicts = {(r["source"], r["destination"], r["port"]): r["verdict"] for r in rows(out.stdout)}
    assert verdicts[("shop/db-1", "shop/db-0", "8080")] == "deny"  # db-0 is isolated by the policy
    assert verdicts[("shop/db-0", "shop/db-1", "8080")] == "allow"  # db-1 is not selected
    assert "per-pod label" not in out.stderr


def test_replicas_that_cannot_reach_one_another_are_noted(tmp_path):
    (tmp_path / "app.yaml").write_text(
        dump(workload("StatefulSet", "db"))
        + "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: shop}\n"
        + "spec: {podSelector: {}}\n"
    )
    out = run("predict", "-f", str(tmp_path))
    assert (
        "replicas of 1 workload(s) cannot reach one another (StatefulSet shop/db on 8080/TCP, 15001/TCP)" in out.stderr
    )


# -- live: pods grouped by the workload that owns them ---------------------------------------


def _live_pod(name: str, ip: str, labels: dict, owner: dict | None) -> dict:
    meta = {"name": name, "namespace": "shop", "uid": f"uid-{name}", "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "controller": True, "uid": "o", **owner}]
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 8080, "name": "http"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def test_live_predict_groups_pods_by_workload_in_the_table_and_keeps_every_pod_in_the_csv(tmp_path):
    from sweep_scripted_api import ScriptedApi

    rs = {"kind": "ReplicaSet", "name": "web-7d4b9c6f8"}
    pods = [
        _live_pod("web-7d4b9c6f8-abcde", "10.0.0.1", {"app": "web", "pod-template-hash": "7d4b9c6f8"}, rs),
        _live_pod("web-7d4b9c6f8-fghij", "10.0.0.2", {"app": "web", "pod-template-hash": "7d4b9c6f8"}, rs),
        _live_pod("db-0", "10.0.0.3", {"app": "db"}, {"kind": "StatefulSet", "name": "db"}),
        _live_pod("debug", "10.0.0.4", {"run": "debug"}, None),
    ]

    def answer(method, path):
        if path == "/api/v1/namespaces/shop/pods":
            return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}
        return None

    api = ScriptedApi(answer)
    try:
        kc = tmp_path / "kc.yaml"
        server = f"http://127.0.0.1:{api.port}"
        kc.write_text(
            f"apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: live, context: {cluster: c, user: u, namespace: shop}}]\ncurrent-context: live\n"
        )
        table = run("predict", "--kubeconfig", str(kc))
        assert table.returncode == 0, table.stderr
        assert "shop/web [Deployment, 2 pods]" in table.stdout and "shop/db [StatefulSet, 1 pod]" in table.stdout
        assert " shop/debug " in table.stdout and "web-7d4b9c6f8-abcde, web-7d4b9c6f8-fghij" in table.stdout
        csv_out = run("predict", "--kubeconfig", str(kc), "-o", "csv")
        assert {r["source"] for r in rows(csv_out.stdout)} == {f"shop/{p['metadata']['name']}" for p in pods}
        # the owner chain comes from the pods themselves: no ReplicaSet or Deployment was read
        assert not [p for _, p in api.requests if "replicasets" in p or "deployments" in p]
        replicas = run("predict", "--kubeconfig", str(kc), "--replicas")
        assert replicas.returncode == 2 and "--replicas is for manifests" in replicas.stderr
    finally:
        api.stop()
