"""Workloads in the snapshot: every kind becomes the pods its template describes.

Representatives (one pod per workload, named like it), ``--replicas`` expansion with the
controllers' names and per-pod labels, DaemonSets over Nodes, folding of owned objects,
owner chains of live pods, synthetic IPs, namespaces.
"""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml
from workload_manifests import KINDS, dump, node, template, workload

from orchestrator.errors import ManifestError
from orchestrator.snapshot import (
    SYNTHETIC_POD_RANGE,
    LoadOptions,
    Origin,
    WorkloadRef,
    load_manifests,
    snapshot_from_objects,
)
from orchestrator.snapshot.workloads import fnv32a, safe_encode, template_hash

REPLICAS = LoadOptions(replicas=True)


def snap(*objects, options: LoadOptions | None = None):
    return snapshot_from_objects(((o, Origin("test.yaml", i)) for i, o in enumerate(objects, 1)), options)


def by_name(snapshot):
    return {p.name: p for p in snapshot.pods}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_becomes_one_representative_pod_with_the_templates_pod_fields(kind):
    s = snap(workload(kind, "web"))
    (pod,) = s.pods
    assert pod.key == "shop/web" and pod.representative
    assert pod.workload == WorkloadRef(kind, "web")
    assert pod.labels["app"] == "web"
    assert [(c.name, c.run_as_user) for c in pod.containers] == [("main", 1001), ("helper", 1003)]
    assert [(c.name, c.restart_policy, c.run_as_user) for c in pod.init_containers] == [("side", "Always", 1002)]
    assert [(p.port, p.name) for c in pod.serving_containers for p in c.ports] == [(8080, "http"), (15001, "proxy")]
    assert "intrapod.kubereach.io/rules" in pod.annotations
    assert pod.origin == Origin("test.yaml", 1)
    assert s.load.workloads == {kind: 1} and not s.skipped_kinds


@pytest.mark.parametrize(
    "kind,labels",
    [
        ("Deployment", {"pod-template-hash"}),
        ("StatefulSet", {"controller-revision-hash"}),
        ("DaemonSet", {"controller-revision-hash", "pod-template-generation"}),
        (
            "Job",
            {"batch.kubernetes.io/job-name", "job-name", "batch.kubernetes.io/controller-uid", "controller-uid"},
        ),
        (
            "CronJob",
            {"batch.kubernetes.io/job-name", "job-name", "batch.kubernetes.io/controller-uid", "controller-uid"},
        ),
        ("ReplicaSet", set()),
        ("ReplicationController", set()),
    ],
)
def test_representatives_carry_the_labels_every_replica_gets_from_its_controller(kind, labels):
    (pod,) = snap(workload(kind, "web")).pods
    assert set(pod.labels) - {"app"} == labels
    assert "statefulset.kubernetes.io/pod-name" not in pod.labels  # per-pod labels: only with --replicas


def test_job_labels_name_the_job_and_a_cronjob_names_its_runs_name_dash_minutes():
    (job,) = snap(workload("Job", "migrate")).pods
    assert job.labels["job-name"] == job.labels["batch.kubernetes.io/job-name"] == "migrate"
    (cron,) = snap(workload("CronJob", "report")).pods
    assert re.fullmatch(r"report-\d{8}", cron.labels["job-name"])
    uid = "0b7c7e0e-1111-2222-3333-444455556666"
    (with_uid,) = snap({**workload("Job", "j"), "metadata": {"name": "j", "namespace": "shop", "uid": uid}}).pods
    assert with_uid.labels["controller-uid"] == uid


def test_a_job_read_back_from_a_cluster_keeps_its_generated_selector():
    job = workload("Job", "migrate")
    uid = "6f1c2a4e-0000-4000-8000-000000000001"
    job["metadata"]["uid"] = uid
    job["spec"]["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    job["spec"]["template"]["metadata"]["labels"].update(
        {"batch.kubernetes.io/controller-uid": uid, "job-name": "migrate"}
    )
    (pod,) = snap(job).pods
    assert pod.labels["controller-uid"] == uid and pod.labels["job-name"] == "migrate"


def test_replicas_deployment_pods_are_named_like_the_cluster_names_them():
    s = snap(workload("Deployment", "web", replicas=3), options=REPLICAS)
    names = [p.name for p in s.pods]
    h = s.pods[0].labels["pod-template-hash"]
    assert len(set(names)) == 3
    assert all(re.fullmatch(rf"web-{h}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", n) for n in names), names
    assert all(p.workload == WorkloadRef("Deployment", "web") and not p.representative for p in s.pods)
    assert names == [p.name for p in snap(workload("Deployment", "web", replicas=3), options=REPLICAS).pods]


def test_replicas_statefulset_ordinals_and_per_pod_labels():
    s = snap(workload("StatefulSet", "db", replicas=3), options=REPLICAS)
    assert [p.name for p in s.pods] == ["db-0", "db-1", "db-2"]
    assert [p.labels["statefulset.kubernetes.io/pod-name"] for p in s.pods] == ["db-0", "db-1", "db-2"]
    assert [p.labels["apps.kubernetes.io/pod-index"] for p in s.pods] == ["0", "1", "2"]
    assert len({p.labels["controller-revision-hash"] for p in s.pods}) == 1
    start = snap(workload("StatefulSet", "db", replicas=2, ordinals={"start": 5}), options=REPLICAS)
    assert [p.name for p in start.pods] == ["db-5", "db-6"]


@pytest.mark.parametrize(
    "spec,count",
    [
        ({}, 1),
        ({"parallelism": 4}, 4),
        ({"parallelism": 4, "completions": 2}, 2),
        ({"parallelism": 3, "suspend": True}, 0),
    ],
)
def test_replicas_job_runs_parallelism_pods_capped_by_completions(spec, count):
    s = snap(workload("Job", "batch", **spec), options=REPLICAS)
    assert len(s.pods) == count
    assert all(re.fullmatch(r"batch-[a-z0-9]{5}", p.name) for p in s.pods)


def test_replicas_indexed_job_pods_carry_their_completion_index():
    s = snap(workload("Job", "idx", parallelism=3, completions=3, completionMode="Indexed"), options=REPLICAS)
    assert [p.labels["batch.kubernetes.io/job-completion-index"] for p in s.pods] == ["0", "1", "2"]
    assert all(re.fullmatch(rf"idx-{i}-[a-z0-9]{{5}}", p.name) for i, p in enumerate(s.pods))


def test_replicas_cronjob_runs_one_jobs_pods():
    s = snap(workload("CronJob", "report"), options=REPLICAS)
    (pod,) = s.pods
    assert pod.name.startswith(pod.labels["job-name"] + "-") and pod.workload == WorkloadRef("CronJob", "report")


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "ReplicationController"])
def test_replicas_default_to_one_and_zero_means_no_pods(kind):
    one = workload(kind, "w")
    one["spec"].pop("replicas")
    assert len(snap(one, options=REPLICAS).pods) == 1
    assert snap(workload(kind, "w", replicas=0), options=REPLICAS).pods == ()
    assert len(snap(workload(kind, "w", replicas=0)).pods) == 1  # the representative stays


def test_long_names_are_cut_like_generate_name():
    rs = workload("ReplicaSet", "w", replicas=1)
    rs["metadata"]["name"] = "a" * 70
    (pod,) = snap(rs, options=REPLICAS).pods
    assert len(pod.name) == 63 and pod.name.startswith("a" * 58)


# -- DaemonSets and Nodes ------------------------------------------------------------


def test_daemonset_runs_one_pod_per_eligible_node():
    nodes = [
        node("n1", {"kubernetes.io/os": "linux"}),
        node(
            "n2",
            {"kubernetes.io/os": "linux"},
            taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
        ),
        node(
            "cp",
            {"kubernetes.io/os": "linux"},
            taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        ),
        node("win", {"kubernetes.io/os": "windows"}),
        node("pref", {"kubernetes.io/os": "linux"}, taints=[{"key": "x", "value": "y", "effect": "PreferNoSchedule"}]),
    ]
    ds = workload("DaemonSet", "agent")
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    s = snap(*nodes, ds, options=REPLICAS)
    assert len(s.pods) == 3  # n1, n2 (the controller tolerates unschedulable), pref; not cp, not win
    assert len({p.name for p in s.pods}) == 3 and s.load.assumed_nodes == 0
    tolerant = workload("DaemonSet", "agent")
    tolerant["spec"]["template"]["spec"]["tolerations"] = [{"operator": "Exists"}]
    assert len(snap(*nodes, tolerant, options=REPLICAS).pods) == 5


def test_daemonset_required_node_affinity_and_host_network_takes_the_node_ip():
    nodes = [
        node("n1", {"pool": "a"}, ip="10.9.0.1"),
        node("n2", {"pool": "b"}, ip="10.9.0.2"),
        node("n3", {"pool": "c"}),
    ]
    ds = workload("DaemonSet", "exporter")
    spec = ds["spec"]["template"]["spec"]
    spec["hostNetwork"] = True
    spec["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]},
                ]
            }
        }
    }
    s = snap(*nodes, ds, options=LoadOptions(replicas=True, synthetic_ips=True))
    assert sorted(p.ips for p in s.pods) == [("10.9.0.1",), ("10.9.0.2",)]
    assert not any(p.synthetic_ip for p in s.pods)


def test_daemonset_without_nodes_assumes_one_linux_node_and_says_so():
    ds = workload("DaemonSet", "agent")
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    s = snap(ds, options=REPLICAS)
    assert len(s.pods) == 1 and s.load.assumed_nodes == 1
    assert snap(ds).load.assumed_nodes == 0  # a representative needs no node


# -- folding what a workload in the input owns ------------------------------------------


def _kubectl_get_all():
    """Deployment -> ReplicaSet -> 2 pods, as `kubectl get deploy,rs,pods -o yaml` prints them."""
    deploy = workload("Deployment", "web")
    deploy["metadata"]["uid"] = "d-uid"
    rs = workload("ReplicaSet", "web-5d8f7c9b4")
    rs["metadata"].update(
        uid="rs-uid",
        labels={"app": "web", "pod-template-hash": "5d8f7c9b4"},
        ownerReferences=[
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid", "controller": True}
        ],
    )
    pods = []
    for i, suffix in enumerate(["x2k8q", "h7vzz"]):
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"web-5d8f7c9b4-{suffix}",
                    "namespace": "shop",
                    "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "web-5d8f7c9b4",
                            "uid": "rs-uid",
                            "controller": True,
                        }
                    ],
                },
                "spec": template("web")["spec"],
                "status": {"podIP": f"10.1.0.{i + 1}"},
            }
        )
    return [deploy, rs, *pods]


def test_pods_and_replicasets_owned_by_a_deployment_in_the_input_are_folded_into_it():
    s = snap(*_kubectl_get_all(), options=LoadOptions(synthetic_ips=True))
    (pod,) = s.pods
    # the representative takes the IP of the first owned pod by name: the manifests' own address
    assert pod.key == "shop/web" and pod.representative and pod.ips == ("10.1.0.2",) and not pod.synthetic_ip
    assert (s.load.folded_pods, s.load.folded_workloads, s.load.workloads) == (2, 1, {"Deployment": 1})


def test_with_replicas_the_folded_pods_are_the_replicas():
    s = snap(*_kubectl_get_all(), options=REPLICAS)
    assert [p.name for p in s.pods] == ["web-5d8f7c9b4-h7vzz", "web-5d8f7c9b4-x2k8q"]
    assert all(p.workload == WorkloadRef("Deployment", "web") for p in s.pods)


def test_folding_follows_the_pod_template_hash_naming_when_the_replicaset_is_missing_or_unowned():
    deploy, rs, *pods = _kubectl_get_all()
    assert snap(deploy, *pods).load.folded_pods == 2  # no ReplicaSet in the input
    del rs["metadata"]["ownerReferences"]
    s = snap(deploy, rs, *pods)
    assert (len(s.pods), s.load.folded_workloads) == (1, 1)


def test_an_owner_with_another_uid_is_another_object_and_nothing_is_folded():
    deploy, rs, *pods = _kubectl_get_all()
    rs["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    for p in pods:
        p["metadata"]["ownerReferences"][0]["uid"] = "other-rs"
    s = snap(deploy, rs, *pods)
    assert len(s.pods) == 4 and s.load.folded_pods == 0


def test_jobs_of_a_cronjob_in_the_input_are_folded_into_it():
    cron = workload("CronJob", "report")
    cron["metadata"]["uid"] = "cj"
    job = workload("Job", "report-28000000")
    job["metadata"]["ownerReferences"] = [{"kind": "CronJob", "name": "report", "uid": "cj", "controller": True}]
    s = snap(cron, job)
    assert [p.key for p in s.pods] == ["shop/report"] and s.load.folded_workloads == 1


# -- live pods: the owner chain from their own metadata -------------------------------------


@pytest.mark.parametrize(
    "owner,labels,expected",
    [
        (
            {"kind": "ReplicaSet", "name": "api-7c9d8f6b5"},
            {"pod-template-hash": "7c9d8f6b5"},
            WorkloadRef("Deployment", "api"),
        ),
        ({"kind": "ReplicaSet", "name": "standalone"}, {}, WorkloadRef("ReplicaSet", "standalone")),
        ({"kind": "StatefulSet", "name": "db"}, {}, WorkloadRef("StatefulSet", "db")),
        ({"kind": "Job", "name": "report-28000000"}, {}, WorkloadRef("Job", "report-28000000")),
        ({"kind": "Node", "name": "node-1"}, {}, None),  # a static pod's mirror
        (None, {}, None),
    ],
)
def test_live_pods_know_their_workload_without_asking_the_api(owner, labels, expected):
    meta = {"name": "p-abcde", "namespace": "prod", "labels": labels}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "v1", **owner, "uid": "u", "controller": True}]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "c"}]},
        "status": {"podIP": "10.0.0.1"},
    }
    (p,) = snap(pod).pods
    assert p.workload == expected and not p.representative and p.name == "p-abcde"


# -- names, IPs, namespaces ----------------------------------------------------------------


def test_two_workloads_shown_under_one_name_are_refused_naming_both():
    with pytest.raises(ManifestError) as info:
        snap(workload("Deployment", "web"), workload("StatefulSet", "web"))
    assert "Deployment shop/web" in str(info.value) and "StatefulSet shop/web" in str(info.value)
    assert "--replicas" in str(info.value) and info.value.document == 2
    assert len(snap(workload("Deployment", "web"), workload("StatefulSet", "web"), options=REPLICAS).pods) == 4


def test_synthetic_ips_come_from_the_documented_range_skip_used_addresses_and_are_flagged():
    used = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "real", "namespace": "shop"},
            "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "198.18.0.1"}}  # fmt: skip
    s = snap(used, workload("Deployment", "web", replicas=3), options=LoadOptions(replicas=True, synthetic_ips=True))
    ips = [p.ips[0] for p in s.pods]
    assert ips[0] == "198.18.0.1" and "198.18.0.1" not in ips[1:] and len(set(ips)) == 4
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(SYNTHETIC_POD_RANGE) for ip in ips)
    assert [p.synthetic_ip for p in s.pods] == [False, True, True, True] and s.load.synthetic_ips == 3
    assert all(p.ips == () for p in snap(workload("Deployment", "web")).pods)  # API objects as they are


def test_namespaces_referenced_but_not_declared_are_implied_and_listed():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}
    meta = {"name": "p", "namespace": "data"}
    pol = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": {"podSelector": {}}}
    s = snap(ns, workload("Deployment", "web"), workload("Deployment", "api", namespace="backend"), pol)
    assert s.load.implied_namespaces == ("backend", "data")
    assert s.namespaces["backend"].labels == {"kubernetes.io/metadata.name": "backend"}
    assert s.namespaces["shop"].labels["team"] == "a"


def test_objects_without_a_namespace_take_n_else_the_fallback_asked_once_else_default():
    objs = [workload("Deployment", "web", namespace=None), workload("StatefulSet", "db", namespace=None)]
    s = snap(*objs, options=LoadOptions(namespace="team-a"))
    assert {p.key for p in s.pods} == {"team-a/web", "team-a/db"}
    assert (s.load.defaulted_objects, s.load.default_namespace, s.load.default_namespace_source) == (2, "team-a", "-n")
    calls = []

    def fallback():
        calls.append(1)
        return "dev", "kubeconfig context kind-dev"

    s = snap(*objs, options=LoadOptions(namespace_fallback=fallback))
    assert {p.namespace for p in s.pods} == {"dev"} and calls == [1]
    assert s.load.default_namespace_source == "kubeconfig context kind-dev"
    snap(workload("Deployment", "web"), options=LoadOptions(namespace_fallback=fallback))
    assert calls == [1]  # not asked when every object names its namespace
    assert snap(*objs).pods[0].namespace == "default"


def test_template_hash_is_fnv1a_safe_encoded_stable_and_follows_the_template():
    assert fnv32a(b"") == 0x811C9DC5 and fnv32a(b"a") == 0xE40C292C  # the FNV-1a test vectors
    assert safe_encode("0123456789") == "456789bcdf"
    t = template("web")
    assert template_hash(t) == template_hash(yaml.safe_load(yaml.safe_dump(t)))
    assert template_hash(t) != template_hash(template("web2"))
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]+", template_hash(t))


def test_helm_template_output_with_comments_lists_and_a_kustomization_beside(tmp_path):
    rendered = (
        "---\n# Source: shop/templates/web.yaml\n"
        + dump(workload("Deployment", "web"))
        + "---\n# Source: shop/templates/empty.yaml\n---\n"
        + dump(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [workload("StatefulSet", "db"), workload("CronJob", "report")],
            }
        )
    )
    (tmp_path / "all.yaml").write_text(rendered)
    (tmp_path / "kustomization.yaml").write_text("resources: [all.yaml]\nnamespace: shop\n")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicaCount: 2\nimage: {repository: nginx}\n")
    (chart / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    s = load_manifests([str(tmp_path)])
    assert [p.key for p in s.pods] == ["shop/web", "shop/db", "shop/report"]
    assert s.load.skipped_documents == {
        "Chart.yaml": 1,
        "values.yaml": 1,
        "kustomization.yaml": 1,
        f"Helm chart templates ({chart}/templates/)": 1,
    }
