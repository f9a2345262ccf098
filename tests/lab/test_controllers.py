"""Each controller's decision on its own: the pure planning functions, with plain dicts.

The controllers as users meet them (through kubectl) are tested in test_workloads_kubectl.py.
"""

from __future__ import annotations

import datetime as _dt

import pytest

from lab.api import defaults
from lab.api import resources as R
from lab.controllers import common as C
from lab.controllers.cronjob import latest_due, plan_cronjob
from lab.controllers.daemonset import plan_daemonset
from lab.controllers.deployment import HASH_LABEL, REVISION, plan_deployment, surge_and_unavailable
from lab.controllers.endpoints import desired_endpoints, desired_slices
from lab.controllers.job import plan_job
from lab.controllers.replicaset import plan_replicas
from lab.controllers.scheduler import assign
from lab.controllers.statefulset import plan_statefulset
from lab.cron import parse

NOW = _dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=_dt.UTC)
T0 = C.rfc3339(NOW - _dt.timedelta(minutes=5))
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}


def obj(kind_key: str, name: str, spec: dict, *, uid: str | None = None, generation: int = 1, status=None) -> dict:
    o = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": uid or f"uid-{name}",
            "generation": generation,
            "creationTimestamp": T0,
        },
        "spec": spec,
    }
    if status is not None:
        o["status"] = status
    return defaults.apply_defaults(kind_key, o)


def running_pod(
    name: str,
    owner: dict | None = None,
    *,
    ready: bool = True,
    node: str = "n0",
    labels=None,
    phase: str = "Running",
    created: str = T0,
    ip: str = "10.244.0.9",
) -> dict:
    meta = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "labels": labels or {"app": "web"},
        "creationTimestamp": created,
    }
    if owner is not None:
        meta["ownerReferences"] = [{"uid": owner["metadata"]["uid"], "controller": True, "kind": "X", "name": "o"}]
    return {
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"containerPort": 8080, "name": "http"}]}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": T0}],
        },
    }


# -- ReplicaSet --------------------------------------------------------------------------------
def test_replicaset_creates_missing_pods_from_its_template_and_reports_status():
    rs = obj(
        "replicasets.apps", "web-1", {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}
    )
    plan = plan_replicas(rs, [running_pod("a", rs)], now=NOW)
    assert len(plan.create) == 2
    assert plan.create[0]["metadata"]["generateName"] == "web-1-"
    assert plan.create[0]["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-1",
        "uid": "uid-web-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert plan.status == {
        "replicas": 1,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "observedGeneration": 1,
    }


def test_replicaset_deletes_the_least_useful_pods_first():
    rs = obj(
        "replicasets.apps", "web-1", {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}
    )
    old_ready = running_pod("old", rs, created="2026-06-01T10:00:00Z")
    new_ready = running_pod("new", rs, created="2026-06-01T11:00:00Z")
    not_ready = running_pod("slow", rs, ready=False, created="2026-06-01T09:00:00Z")
    pending = running_pod("pending", rs, phase="Pending", node="")
    plan = plan_replicas(rs, [old_ready, new_ready, not_ready, pending], now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["pending", "slow", "new"]


def test_terminating_and_finished_pods_do_not_count_and_minready_delays_availability():
    rs = obj(
        "replicasets.apps",
        "w",
        {"replicas": 2, "minReadySeconds": 600, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
    )
    going = running_pod("going", rs)
    going["metadata"]["deletionTimestamp"] = T0
    done = running_pod("done", rs, phase="Succeeded")
    fresh = running_pod("fresh", rs)
    plan = plan_replicas(rs, [going, done, fresh], now=NOW)
    assert len(plan.create) == 1
    assert plan.status["availableReplicas"] == 0 and plan.status["readyReplicas"] == 1
    assert plan.requeue_after == pytest.approx(300.1)


def test_a_replicaset_being_deleted_gets_no_new_pods():
    rs = obj(
        "replicasets.apps", "w", {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE}
    )
    rs["metadata"]["deletionTimestamp"] = T0
    assert plan_replicas(rs, [], now=NOW).create == []


# -- Deployment ---------------------------------------------------------------------------------
def deployment(replicas=4, image="nginx:1.27", **spec) -> dict:
    template = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": image}]}}
    return obj(
        "deployments.apps",
        "web",
        {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template, **spec},
    )


def rs_of(d: dict, replicas: int, available: int, *, image: str | None = None, revision: int = 1) -> dict:
    from lab.controllers.deployment import new_replicaset

    source = d if image is None else deployment(d["spec"]["replicas"], image)
    rs = new_replicaset(source, revision)
    rs["metadata"]["uid"] = "uid-" + rs["metadata"]["name"]
    rs["metadata"]["creationTimestamp"] = T0 if image is None else "2026-01-01T00:00:00Z"
    rs["spec"]["replicas"] = replicas
    rs["status"] = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available}
    return rs


@pytest.mark.parametrize(
    ("replicas", "spec", "want"),
    [
        (4, {}, (1, 1)),
        (10, {}, (3, 2)),
        (10, {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}, (0, 1)),
        (3, {"strategy": {"type": "Recreate"}}, (0, 3)),
    ],
)
def test_surge_rounds_up_and_unavailability_down(replicas, spec, want):
    assert surge_and_unavailable(deployment(replicas, **spec)) == want


def test_a_new_deployment_gets_a_hashed_replicaset_at_revision_one():
    d = deployment(4)
    plan = plan_deployment(d, [], now=NOW)
    rs = plan.create
    pod_hash = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: pod_hash}
    assert rs["spec"]["replicas"] == 4 and rs["metadata"]["annotations"][REVISION] == "1"
    assert plan.deployment_annotations == {REVISION: "1"}


def test_rolling_update_steps_stay_within_surge_and_unavailability():
    d = deployment(4, image="nginx:1.28")
    old = rs_of(d, 4, 4, image="nginx:1.27")
    # step 1: a new ReplicaSet with 1 replica (4 + 25% surge = 5 pods at most)
    plan = plan_deployment(d, [old], now=NOW)
    assert plan.create["spec"]["replicas"] == 1 and plan.create["metadata"]["annotations"][REVISION] == "2"
    new = rs_of(d, 1, 0, revision=2)
    # step 2: the new pod is not available yet; at least 3 must stay available: old goes to 3
    plan = plan_deployment(d, [old, new], now=NOW)
    assert [(rs["metadata"]["name"], n) for rs, n in plan.scale] == [(old["metadata"]["name"], 3)]
    # step 3: total 4 again, so the new one grows by the surge
    old["spec"]["replicas"] = old["status"]["replicas"] = old["status"]["availableReplicas"] = 3
    plan = plan_deployment(d, [old, new], now=NOW)
    assert [(rs["metadata"]["name"], n) for rs, n in plan.scale] == [(new["metadata"]["name"], 2)]
    # done: everything new and available, old at zero; status complete
    old["spec"]["replicas"] = 0
    old["status"] = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
    new = rs_of(d, 4, 4, revision=2)
    plan = plan_deployment(d, [old, new], now=NOW)
    assert plan.scale == []
    assert plan.status["updatedReplicas"] == 4 and plan.status["availableReplicas"] == 4
    progressing = [c for c in plan.status["conditions"] if c["type"] == "Progressing"][0]
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_recreate_scales_old_to_zero_and_waits_for_their_pods():
    d = deployment(3, image="b", strategy={"type": "Recreate"})
    old = rs_of(d, 3, 3, image="a")
    plan = plan_deployment(d, [old], now=NOW)
    assert plan.create["spec"]["replicas"] == 0
    new = rs_of(d, 0, 0, revision=2)
    assert [n for _, n in plan_deployment(d, [old, new], now=NOW).scale] == [0]
    old["spec"]["replicas"] = 0  # pods still terminating: status.replicas 3
    assert plan_deployment(d, [old, new], now=NOW).scale == []
    old["status"]["replicas"] = 0
    assert [(rs["metadata"]["name"], n) for rs, n in plan_deployment(d, [old, new], now=NOW).scale] == [
        (new["metadata"]["name"], 3)
    ]


def test_old_replicasets_beyond_the_history_limit_are_deleted_once_rolled_out():
    d = deployment(1, revisionHistoryLimit=1)
    new = rs_of(d, 1, 1, revision=5)
    olds = [rs_of(d, 0, 0, image=f"v{i}", revision=i) for i in range(1, 4)]
    for i, rs in enumerate(olds):
        rs["metadata"]["creationTimestamp"] = f"2026-01-0{i + 1}T00:00:00Z"
        rs["status"] = {"replicas": 0}
    plan = plan_deployment(d, [new, *olds], now=NOW)
    assert [rs["metadata"]["annotations"][REVISION] for rs in plan.delete] == ["1", "2"]


def test_progress_deadline_exceeded_when_nothing_moved():
    d = deployment(2, progressDeadlineSeconds=60)
    new = rs_of(d, 2, 0)
    stale = C.rfc3339(NOW - _dt.timedelta(minutes=5))
    d["status"] = {
        "conditions": [
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": "x",
                "lastUpdateTime": stale,
                "lastTransitionTime": stale,
            }
        ]
    }
    plan = plan_deployment(d, [new], now=NOW)
    cond = [c for c in plan.status["conditions"] if c["type"] == "Progressing"][0]
    assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")


# -- StatefulSet ---------------------------------------------------------------------------------
def sts(replicas=3, **spec) -> dict:
    return obj(
        "statefulsets.apps",
        "db",
        {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "web"}},
            "template": TEMPLATE,
            **spec,
        },
    )


def test_statefulset_creates_one_ordinal_at_a_time_and_waits_for_readiness():
    s = sts()
    plan = plan_statefulset(s, [], [], now=NOW)
    assert [p["metadata"]["name"] for p in plan.create] == ["db-0"] and plan.revision is not None
    rev = plan.revision
    pod0 = {**plan.create[0], "metadata": {**plan.create[0]["metadata"], "uid": "p0"}, "status": {"phase": "Pending"}}
    assert plan_statefulset(s, [pod0], [rev], now=NOW).create == []  # waits for db-0
    pod0["status"] = running_pod("x")["status"]
    assert [p["metadata"]["name"] for p in plan_statefulset(s, [pod0], [rev], now=NOW).create] == ["db-1"]
    labels = pod0["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "db-0" and labels["apps.kubernetes.io/pod-index"] == "0"
    assert pod0["spec"]["hostname"] == "db-0" and pod0["spec"]["subdomain"] == "db"


def test_statefulset_parallel_creates_all_and_scale_down_removes_the_highest_first():
    s = sts(3, podManagementPolicy="Parallel")
    assert [p["metadata"]["name"] for p in plan_statefulset(s, [], [], now=NOW).create] == ["db-0", "db-1", "db-2"]
    s = sts(1)
    rev = plan_statefulset(s, [], [], now=NOW).revision
    pods = []
    for i in range(3):
        p = running_pod(f"db-{i}", s, labels={"app": "web", "controller-revision-hash": rev["metadata"]["name"]})
        pods.append(p)
    plan = plan_statefulset(s, pods, [rev], now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["db-2"]


def test_statefulset_rolling_update_replaces_the_highest_stale_ordinal_respecting_partition():
    s = sts(3, updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}})
    old_rev = {"metadata": {"name": "db-old"}, "revision": 1, "data": {"spec": {"template": TEMPLATE}}}
    pods = [running_pod(f"db-{i}", s, labels={"app": "web", "controller-revision-hash": "db-old"}) for i in range(3)]
    s["status"] = {"currentRevision": "db-old"}
    plan = plan_statefulset(s, pods, [old_rev], now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["db-2"]
    new_name = plan.revision["metadata"]["name"]
    pods[2]["metadata"]["labels"]["controller-revision-hash"] = new_name
    plan = plan_statefulset(s, pods, [old_rev, plan.revision], now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["db-1"]
    pods[1]["metadata"]["labels"]["controller-revision-hash"] = new_name
    plan = plan_statefulset(s, pods, [old_rev], now=NOW)
    assert plan.delete == []  # db-0 is below the partition
    assert plan.status["updatedReplicas"] == 2 and plan.status["currentRevision"] == "db-old"


# -- DaemonSet ------------------------------------------------------------------------------------
def node(name: str, labels=None, *, ready=True, taints=None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "allocatable": {"pods": "110"},
        },
    }


def test_daemonset_puts_one_pod_on_each_fitting_node():
    ds = obj("daemonsets.apps", "agent", {"selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE})
    nodes = [
        node("n0"),
        node("n1"),
        node("n2", ready=False),
        node("n3", taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
    ]
    plan = plan_daemonset(ds, [running_pod("on-n1", ds, node="n1")], nodes, [], now=NOW)
    assert [p["spec"]["nodeName"] for p in plan.create] == ["n0"]
    assert plan.status["desiredNumberScheduled"] == 2 and plan.status["currentNumberScheduled"] == 1


def test_daemonset_removes_pods_from_nodes_it_no_longer_fits_and_rolls_one_at_a_time():
    template = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": {"tier": "edge"}}}
    ds = obj("daemonsets.apps", "agent", {"selector": {"matchLabels": {"app": "web"}}, "template": template})
    nodes = [node("n0", {"tier": "edge"}), node("n1", {"tier": "edge"}), node("n2")]
    pods = [
        running_pod(f"p{i}", ds, node=f"n{i}", labels={"app": "web", "controller-revision-hash": "old"})
        for i in range(3)
    ]
    plan = plan_daemonset(ds, pods, nodes, [], now=NOW)
    deleted = sorted(p["metadata"]["name"] for p in plan.delete)
    assert "p2" in deleted  # n2 does not match the nodeSelector
    assert len([n for n in deleted if n != "p2"]) == 1  # maxUnavailable 1: one old pod at a time


# -- Job --------------------------------------------------------------------------------------------
def job(**spec) -> dict:
    j = obj(
        "jobs.batch",
        "batch",
        {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}, **spec},
    )
    return defaults.job_selector(j)


def finished_pod(name, j, phase, finished=T0):
    p = running_pod(name, j, phase=phase)
    p["status"]["containerStatuses"] = [
        {"name": "c", "state": {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1, "finishedAt": finished}}}
    ]
    return p


def test_job_runs_parallelism_pods_until_completions_succeed():
    j = job(completions=5, parallelism=2)
    plan = plan_job(j, [], now=NOW)
    assert len(plan.create) == 2
    labels = plan.create[0]["metadata"]["labels"]
    assert (
        labels["batch.kubernetes.io/controller-uid"] == "uid-batch"
        and labels["batch.kubernetes.io/job-name"] == "batch"
    )
    done = [finished_pod(f"d{i}", j, "Succeeded") for i in range(4)]
    plan = plan_job(j, done + [running_pod("r", j)], now=NOW)
    assert plan.create == [] and plan.status["succeeded"] == 4 and plan.status["active"] == 1
    plan = plan_job(j, done + [finished_pod("d4", j, "Succeeded")], now=NOW)
    assert [c["type"] for c in plan.status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert plan.status["completionTime"] == C.rfc3339(NOW)


def test_job_backs_off_after_a_failure_and_fails_past_its_backoff_limit():
    j = job(backoffLimit=1)
    failed_now = C.rfc3339(NOW - _dt.timedelta(seconds=3))
    plan = plan_job(j, [finished_pod("f1", j, "Failed", failed_now)], now=NOW)
    assert plan.create == [] and plan.requeue_after == pytest.approx(7.0, abs=0.5)  # 10 s after the failure
    plan = plan_job(j, [finished_pod("f1", j, "Failed", T0)], now=NOW)
    assert len(plan.create) == 1
    plan = plan_job(j, [finished_pod("f1", j, "Failed"), finished_pod("f2", j, "Failed")], now=NOW)
    failed = [c for c in plan.status["conditions"] if c["type"] == "Failed"][0]
    assert failed["reason"] == "BackoffLimitExceeded" and plan.status["failed"] == 2


def test_indexed_job_gives_each_pod_its_index():
    j = job(completions=3, parallelism=3, completionMode="Indexed")
    plan = plan_job(j, [], now=NOW)
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in plan.create)
    assert indexes == ["0", "1", "2"]
    assert plan.create[0]["spec"]["containers"][0]["env"][-1]["name"] == "JOB_COMPLETION_INDEX"


def test_job_deadline_and_ttl():
    j = job(activeDeadlineSeconds=60)
    j["status"] = {"startTime": C.rfc3339(NOW - _dt.timedelta(seconds=61))}
    plan = plan_job(j, [running_pod("r", j)], now=NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["r"]
    assert [c["reason"] for c in plan.status["conditions"]] == ["DeadlineExceeded", "DeadlineExceeded"]
    j = job(ttlSecondsAfterFinished=0)
    j["status"] = {"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": T0}]}
    assert plan_job(j, [], now=NOW).delete_job


# -- CronJob ------------------------------------------------------------------------------------------
def test_latest_missed_time_is_run_once():
    s = parse("*/10 * * * *")
    due, upcoming = latest_due(s, _dt.UTC, NOW - _dt.timedelta(minutes=35), NOW)
    assert due == NOW and upcoming == NOW + _dt.timedelta(minutes=10)


def test_cronjob_creates_a_job_named_after_the_minute_and_keeps_history():
    cj = obj(
        "cronjobs.batch",
        "nightly",
        {
            "schedule": "0 * * * *",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}
            },
        },
    )
    cj["metadata"]["creationTimestamp"] = C.rfc3339(NOW - _dt.timedelta(hours=3))
    done = [
        {
            "metadata": {"name": f"old{i}", "namespace": "ns", "uid": f"j{i}"},
            "status": {
                "completionTime": f"2026-06-01T0{i}:00:00Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            },
        }
        for i in range(3)
    ]
    plan = plan_cronjob(cj, done, now=NOW)
    assert plan.create["metadata"]["name"] == f"nightly-{int(NOW.timestamp() // 60)}"
    assert plan.create["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == C.rfc3339(NOW)
    assert [j["metadata"]["name"] for j in plan.delete] == ["old0", "old1"]
    assert plan.status["lastScheduleTime"] == C.rfc3339(NOW)
    assert plan.requeue_after == pytest.approx(3600.1)


def test_cronjob_forbid_skips_while_a_job_runs_and_suspend_stops_it():
    spec = {
        "schedule": "* * * * *",
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}
        },
    }
    cj = obj("cronjobs.batch", "c", spec)
    running = {"metadata": {"name": "c-1", "namespace": "ns", "uid": "j"}, "status": {}}
    assert plan_cronjob(cj, [running], now=NOW).create is None
    assert plan_cronjob(obj("cronjobs.batch", "c", {**spec, "suspend": True}), [], now=NOW).create is None
    assert plan_cronjob(cj, [], now=NOW).create is not None


# -- scheduler ------------------------------------------------------------------------------------------
def test_scheduler_spreads_and_honours_node_selectors():
    nodes = [node("a"), node("b", {"disk": "ssd"}), node("c", ready=False)]
    pods = [{"metadata": {"name": f"w{i}", "creationTimestamp": T0}, "spec": {}} for i in range(4)]
    picky = {"metadata": {"name": "picky", "creationTimestamp": T0}, "spec": {"nodeSelector": {"disk": "ssd"}}}
    never = {"metadata": {"name": "never", "creationTimestamp": T0}, "spec": {"nodeSelector": {"disk": "nvme"}}}
    got = {p["metadata"]["name"]: (n, m) for p, n, m in assign(pods + [picky, never], nodes, {"a": 1})}
    # a runs one pod already: picky takes b, then the rest alternate (fewest pods first, ties by name)
    assert [got[f"w{i}"][0] for i in range(4)] == ["a", "b", "a", "b"]
    assert got["picky"][0] == "b"
    assert got["never"] == (
        None,
        "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready.",
    )


def test_scheduler_node_affinity_and_tolerations():
    nodes = [node("a", {"zone": "z1"}), node("b", {"zone": "z2"}, taints=[{"key": "k", "effect": "NoSchedule"}])]
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]
            }
        }
    }
    pod = {"metadata": {"name": "p", "creationTimestamp": T0}, "spec": {"affinity": affinity}}
    assert assign([pod], nodes, {})[0][1] is None
    pod["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    assert assign([pod], nodes, {})[0][1] == "b"


# -- EndpointSlices ----------------------------------------------------------------------------------------
def test_slices_hold_ready_and_unready_endpoints_with_resolved_named_ports():
    svc = {
        "metadata": {"name": "web", "namespace": "ns", "uid": "s"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    pods = [
        running_pod("a", ip="10.244.0.1"),
        running_pod("b", ready=False, ip="10.244.0.2"),
        running_pod("other", labels={"app": "db"}, ip="10.244.0.3"),
        running_pod("done", phase="Succeeded", ip="10.244.0.4"),
    ]
    (s,) = desired_slices(svc, pods)
    assert s["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
    assert [(e["addresses"], e["conditions"]["ready"]) for e in s["endpoints"]] == [
        (["10.244.0.1"], True),
        (["10.244.0.2"], False),
    ]
    assert s["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    legacy = desired_endpoints(svc, pods)
    assert [a["ip"] for a in legacy["subsets"][0]["addresses"]] == ["10.244.0.1"]
    assert [a["ip"] for a in legacy["subsets"][0]["notReadyAddresses"]] == ["10.244.0.2"]


def test_a_slice_holds_at_most_a_hundred_endpoints():
    svc = {
        "metadata": {"name": "web", "namespace": "ns", "uid": "s"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    pods = [running_pod(f"p{i}", ip=f"10.244.{i // 250}.{i % 250 + 1}") for i in range(250)]
    assert [len(s["endpoints"]) for s in desired_slices(svc, pods)] == [100, 100, 50]


def test_every_workload_kind_is_served_and_has_a_controller():
    from lab.controllers import build_controllers

    names = {c.name for c in build_controllers(None)}  # type: ignore[arg-type]
    assert {
        "scheduler",
        "deployments",
        "replicasets",
        "replicationcontrollers",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
        "endpointslices",
    } <= names
    for rt in (R.DEPLOYMENTS, R.REPLICASETS, R.STATEFULSETS, R.DAEMONSETS, R.JOBS, R.CRONJOBS, R.ENDPOINTSLICES):
        assert rt in R.RESOURCES


def test_workloads_asking_for_more_pods_than_the_lab_holds_are_refused():
    from lab.api.workload_validation import MAX_WORKLOAD_PODS, deployment_causes, job_causes

    d = deployment(MAX_WORKLOAD_PODS + 1)
    assert [c.field for c in deployment_causes(d)] == ["spec.replicas"]
    j = job(parallelism=MAX_WORKLOAD_PODS + 1)
    assert "spec.parallelism" in [c.field for c in job_causes(j)]
