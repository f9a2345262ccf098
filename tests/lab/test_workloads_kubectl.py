"""Workload controllers as users meet them: the real ``kubectl`` against the lab API.

The API lab runs three fake nodes (no root needed): pods start at once, a run-to-completion
container ends with the status its trailing ``exit N`` says. What is tested here is the
control plane: Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
EndpointSlices, Nodes, the scheduler and cascading deletes, through ``apply``, ``scale``,
``rollout status|restart|history|undo``, ``create job --from`` and ``delete``.
"""

from __future__ import annotations

import json
import time

import pytest

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - {{name: web, image: {image}, ports: [{{containerPort: 8080, name: http}}]}}
"""


def _wait(check, timeout: float = 60.0, what: str = "condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def _json(api_lab, *args):
    return json.loads(api_lab.kubectl(*args, "-o", "json").stdout)


def _pods(api_lab, ns, selector=None):
    args = ["get", "pods", "-n", ns] + (["-l", selector] if selector else [])
    return _json(api_lab, *args)["items"]


def test_get_nodes_wide_shows_every_node_with_its_address(api_lab):
    out = api_lab.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert out[0].split()[:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert set(rows) == {"krl-node-0", "krl-node-1", "krl-node-2"}
    assert rows["krl-node-0"][1:3] == ["Ready", "control-plane"]
    assert rows["krl-node-1"][1:3] == ["Ready", "<none>"]
    assert rows["krl-node-1"][5] == "172.18.0.11"
    node = _json(api_lab, "get", "node", "krl-node-2")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "krl-node-2"
    assert node["spec"]["podCIDR"] == "10.244.32.0/20"


def test_deployment_apply_rollout_status_scale_restart_history_undo(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="web", ns=ns, replicas=3, image="nginx:1.27"))
    out = api_lab.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    table = api_lab.kubectl("get", "deploy", "web", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "3/3", "3", "3"]
    pods = _pods(api_lab, ns, "app=web")
    assert len(pods) == 3
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods}
    assert len(hashes) == 1
    assert all(p["metadata"]["name"].startswith(f"web-{next(iter(hashes))}-") for p in pods)
    assert len({p["spec"]["nodeName"] for p in pods}) == 3  # spread over the three nodes

    api_lab.kubectl("scale", "deployment/web", "-n", ns, "--replicas=5")
    _wait(lambda: len([p for p in _pods(api_lab, ns, "app=web") if p["status"]["phase"] == "Running"]) == 5)
    api_lab.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")

    api_lab.kubectl("rollout", "restart", "deployment/web", "-n", ns)
    out = api_lab.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s").stdout
    assert "successfully rolled out" in out
    pods = _wait(lambda: (ps := _pods(api_lab, ns, "app=web")) and len(ps) == 5 and ps)
    new_hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods}
    assert len(new_hashes) == 1 and new_hashes != hashes
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in pods)
    rs = api_lab.kubectl("get", "rs", "-n", ns).stdout.splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert sorted(line.split()[1:4] for line in rs[1:]) == [["0", "0", "0"], ["5", "5", "5"]]

    history = api_lab.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines() if line[:1].isdigit()] == ["1", "2"]
    api_lab.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    api_lab.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
    pods = _wait(lambda: (ps := _pods(api_lab, ns, "app=web")) and len(ps) == 5 and ps)
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == hashes
    dep = _json(api_lab, "get", "deploy", "web", "-n", ns)
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_deployment_image_change_rolls_within_surge_and_unavailability(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="roll", ns=ns, replicas=4, image="nginx:1.26"))
    api_lab.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=60s")
    seen_total, seen_available = [], []
    api_lab.kubectl("set", "image", "deployment/roll", "-n", ns, "web=nginx:1.27")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        pods = [p for p in _pods(api_lab, ns, "app=roll") if not p["metadata"].get("deletionTimestamp")]
        seen_total.append(len(pods))
        seen_available.append(sum(1 for p in pods if p["status"].get("phase") == "Running"))
        images = {p["spec"]["containers"][0]["image"] for p in pods}
        if images == {"nginx:1.27"} and len(pods) == 4:
            break
        time.sleep(0.05)
    assert max(seen_total) <= 5  # replicas + maxSurge (25% of 4, rounded up)
    assert min(seen_available) >= 3  # replicas - maxUnavailable (25% of 4, rounded down)
    api_lab.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=60s")


@pytest.mark.parametrize(
    ("cascade", "rs_left", "pods_left"),
    [("background", 0, 0), ("foreground", 0, 0), ("orphan", 1, 2)],
)
def test_delete_deployment_cascades_as_kubectl_asks(api_lab, ns, cascade, rs_left, pods_left):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="gone", ns=ns, replicas=2, image="nginx:1.27"))
    api_lab.kubectl("rollout", "status", "deployment/gone", "-n", ns, "--timeout=60s")
    out = api_lab.kubectl("delete", "deployment", "gone", "-n", ns, f"--cascade={cascade}", "--timeout=60s").stdout
    assert 'deployment.apps "gone" deleted' in out
    assert api_lab.kubectl("get", "deploy", "gone", "-n", ns, check=False).returncode == 1
    _wait(lambda: len(_json(api_lab, "get", "rs", "-n", ns)["items"]) == rs_left, what="replicasets")
    _wait(lambda: len(_pods(api_lab, ns)) == pods_left, what="pods")
    if cascade == "orphan":
        rs = _json(api_lab, "get", "rs", "-n", ns)["items"][0]
        assert not rs["metadata"].get("ownerReferences")
        time.sleep(0.5)
        assert len(_pods(api_lab, ns)) == 2  # its pods stay, still owned by the ReplicaSet


def test_statefulset_ordered_names_stable_labels_and_rollout(api_lab, ns):
    sts = f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: {ns}}}
spec:
  serviceName: web
  replicas: 3
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: postgres:16, ports: [{{containerPort: 5432}}]}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
"""
    api_lab.kubectl("apply", "-f", "-", input=sts)
    out = api_lab.kubectl("rollout", "status", "sts/web", "-n", ns, "--timeout=60s").stdout
    assert "roll out complete" in out
    pods = sorted(_pods(api_lab, ns, "app=db"), key=lambda p: p["metadata"]["name"])
    assert [p["metadata"]["name"] for p in pods] == ["web-0", "web-1", "web-2"]
    for i, p in enumerate(pods):
        labels = p["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
        assert labels["apps.kubernetes.io/pod-index"] == str(i)
        assert p["spec"]["hostname"] == f"web-{i}" and p["spec"]["subdomain"] == "web"
        claims = [v["persistentVolumeClaim"]["claimName"] for v in p["spec"]["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [f"data-web-{i}"]
    created = [p["metadata"]["creationTimestamp"] for p in pods]
    assert created == sorted(created)  # OrderedReady: 0, then 1, then 2
    table = api_lab.kubectl("get", "sts", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "AGE"] and table[1].split()[:2] == ["web", "3/3"]

    api_lab.kubectl("set", "image", "sts/web", "-n", ns, "db=postgres:17")
    api_lab.kubectl("rollout", "status", "sts/web", "-n", ns, "--timeout=90s")
    pods = _wait(lambda: (ps := _pods(api_lab, ns, "app=db")) and len(ps) == 3 and ps)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"postgres:17"}
    status = _json(api_lab, "get", "sts", "web", "-n", ns)["status"]
    assert status["currentRevision"] == status["updateRevision"]
    history = api_lab.kubectl("rollout", "history", "sts/web", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines() if line[:1].isdigit()] == ["1", "2"]

    api_lab.kubectl("scale", "sts/web", "-n", ns, "--replicas=1")
    _wait(lambda: [p["metadata"]["name"] for p in _pods(api_lab, ns, "app=db")] == ["web-0"], what="scale down")


def test_daemonset_runs_one_pod_on_every_node(api_lab, ns):
    ds = f"""\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: agent, image: fluent-bit:3, ports: [{{containerPort: 2020}}]}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=ds)
    out = api_lab.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=60s").stdout
    assert 'daemon set "agent" successfully rolled out' in out
    pods = _pods(api_lab, ns, "app=agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["krl-node-0", "krl-node-1", "krl-node-2"]
    table = api_lab.kubectl("get", "ds", "-n", ns).stdout.splitlines()
    assert table[0].split()[:7] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE"]
    assert table[1].split()[:6] == ["agent", "3", "3", "3", "3", "3"]
    api_lab.kubectl("set", "image", "ds/agent", "-n", ns, "agent=fluent-bit:4")
    api_lab.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=60s")
    pods = _wait(lambda: (ps := _pods(api_lab, ns, "app=agent")) and len(ps) == 3 and ps)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"fluent-bit:4"}
    # a nodeSelector narrows it to the control-plane node
    api_lab.kubectl(
        "patch",
        "ds/agent",
        "-n",
        ns,
        "-p",
        '{"spec":{"template":{"spec":{"nodeSelector":{"node-role.kubernetes.io/control-plane":""}}}}}',
    )
    _wait(lambda: [p["spec"]["nodeName"] for p in _pods(api_lab, ns, "app=agent")] == ["krl-node-0"], what="narrowed")


def test_job_runs_to_completion_with_parallelism(api_lab, ns):
    job = f"""\
apiVersion: batch/v1
kind: Job
metadata: {{name: batch, namespace: {ns}}}
spec:
  completions: 4
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: work, image: busybox:1.36, command: [sh, -c, "echo hi; exit 0"]}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=job)
    api_lab.kubectl("wait", "--for=condition=complete", "job/batch", "-n", ns, "--timeout=60s")
    got = _json(api_lab, "get", "job", "batch", "-n", ns)
    assert got["status"]["succeeded"] == 4 and not got["status"].get("failed")
    pods = _pods(api_lab, ns, "batch.kubernetes.io/job-name=batch")
    assert len(pods) == 4 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    table = api_lab.kubectl("get", "jobs", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["batch", "Complete", "4/4"]


def test_job_fails_after_its_backoff_limit(api_lab, ns):
    job = f"""\
apiVersion: batch/v1
kind: Job
metadata: {{name: broken, namespace: {ns}}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: work, image: busybox:1.36, command: [sh, -c, "exit 3"]}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=job)
    api_lab.kubectl("wait", "--for=condition=failed", "job/broken", "-n", ns, "--timeout=60s")
    got = _json(api_lab, "get", "job", "broken", "-n", ns)
    failed = [c for c in got["status"]["conditions"] if c["type"] == "Failed"][0]
    assert failed["reason"] == "BackoffLimitExceeded" and got["status"]["failed"] == 1
    pod = _pods(api_lab, ns, "batch.kubernetes.io/job-name=broken")[0]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_cronjob_and_create_job_from_it(api_lab, ns):
    cron = f"""\
apiVersion: batch/v1
kind: CronJob
metadata: {{name: nightly, namespace: {ns}}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{{name: report, image: busybox:1.36, command: [sh, -c, "date"]}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=cron)
    table = api_lab.kubectl("get", "cronjobs", "-n", ns).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND"]
    assert table[1].split()[:6] == ["nightly", "0", "3", "*", "*", "*"]
    api_lab.kubectl("create", "job", "manual-run", "--from=cronjob/nightly", "-n", ns)
    api_lab.kubectl("wait", "--for=condition=complete", "job/manual-run", "-n", ns, "--timeout=60s")
    job = _json(api_lab, "get", "job", "manual-run", "-n", ns)
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    # the CronJob owns it: deleting the CronJob takes the Job and its pod
    api_lab.kubectl("delete", "cronjob", "nightly", "-n", ns, "--timeout=60s")
    _wait(lambda: not _json(api_lab, "get", "jobs", "-n", ns)["items"], what="jobs collected")
    _wait(lambda: not _pods(api_lab, ns), what="pods collected")


def test_endpointslices_follow_pod_readiness(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="api", ns=ns, replicas=2, image="nginx:1.27"))
    svc = f"""\
apiVersion: v1
kind: Service
metadata: {{name: api, namespace: {ns}}}
spec:
  selector: {{app: api}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=svc)
    api_lab.kubectl("rollout", "status", "deployment/api", "-n", ns, "--timeout=60s")

    def slice_endpoints():
        items = _json(api_lab, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=api")["items"]
        return {
            e["targetRef"]["name"]: e["conditions"]["ready"] for s in items for e in s.get("endpoints") or ()
        }, items

    eps, items = _wait(lambda: (r := slice_endpoints()) and len(r[0]) == 2 and r)
    assert all(eps.values())
    assert items[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    table = api_lab.kubectl("get", "endpointslices", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table[1].split()[1:3] == ["IPv4", "8080"]

    victim = sorted(eps)[0]
    api_lab.run(api_lab.node_of(ns, victim).set_ready, ns, victim, False)
    _wait(lambda: slice_endpoints()[0].get(victim) is False, what="endpoint not ready")
    legacy = _json(api_lab, "get", "endpoints", "api", "-n", ns)
    subset = legacy["subsets"][0]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == [victim]
    assert len(subset["addresses"]) == 1
    api_lab.run(api_lab.node_of(ns, victim).set_ready, ns, victim, True)
    _wait(lambda: slice_endpoints()[0].get(victim) is True, what="endpoint ready again")

    api_lab.kubectl("delete", "service", "api", "-n", ns)
    _wait(lambda: not _json(api_lab, "get", "endpointslices", "-n", ns)["items"], what="slices collected")
    _wait(lambda: api_lab.kubectl("get", "endpoints", "api", "-n", ns, check=False).returncode == 1)


def test_unschedulable_pod_waits_with_the_schedulers_message(api_lab, ns):
    pod = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: picky, namespace: {ns}}}
spec:
  nodeSelector: {{disk: ssd}}
  containers: [{{name: main, image: nginx:1.27}}]
"""
    api_lab.kubectl("apply", "-f", "-", input=pod)

    def condition():
        got = _json(api_lab, "get", "pod", "picky", "-n", ns)
        return next((c for c in got["status"].get("conditions") or () if c["type"] == "PodScheduled"), None)

    cond = _wait(condition)
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector")
    api_lab.kubectl("label", "node", "krl-node-2", "disk=ssd")
    try:
        got = _wait(lambda: (p := _json(api_lab, "get", "pod", "picky", "-n", ns))["spec"].get("nodeName") and p)
        assert got["spec"]["nodeName"] == "krl-node-2"
    finally:
        api_lab.kubectl("label", "node", "krl-node-2", "disk-")


def test_scaling_beyond_what_the_lab_holds_is_refused_by_name(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="big", ns=ns, replicas=1, image="nginx:1.27"))
    huge = api_lab.kubectl("scale", "deployment/big", "-n", ns, "--replicas=20000", check=False)
    assert huge.returncode == 1 and "the kubereach lab runs at most 10000" in huge.stderr


def test_get_all_lists_the_workloads(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=DEPLOYMENT.format(name="all", ns=ns, replicas=1, image="nginx:1.27"))
    api_lab.kubectl("rollout", "status", "deployment/all", "-n", ns, "--timeout=60s")
    out = api_lab.kubectl("get", "all", "-n", ns, "-o", "name").stdout.split()
    assert "deployment.apps/all" in out
    assert any(n.startswith("replicaset.apps/all-") for n in out)
    assert any(n.startswith("pod/all-") for n in out)


WORKLOADS = {
    "statefulset": """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: w, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: w}}}}
  template:
    metadata: {{labels: {{app: w}}}}
    spec: {{containers: [{{name: c, image: nginx:1.27}}]}}
""",
    "daemonset": """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: w, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: w}}}}
  template:
    metadata: {{labels: {{app: w}}}}
    spec: {{containers: [{{name: c, image: nginx:1.27}}]}}
""",
    "replicationcontroller": """\
apiVersion: v1
kind: ReplicationController
metadata: {{name: w, namespace: {ns}}}
spec:
  replicas: 2
  template:
    metadata: {{labels: {{app: w}}}}
    spec: {{containers: [{{name: c, image: nginx:1.27}}]}}
""",
    "job": """\
apiVersion: batch/v1
kind: Job
metadata: {{name: w, namespace: {ns}}}
spec:
  parallelism: 2
  completions: 2
  template:
    metadata: {{labels: {{app: w}}}}
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: nginx:1.27, ports: [{{containerPort: 80}}]}}]
""",
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
@pytest.mark.parametrize("cascade", ["foreground", "background", "orphan"])
def test_every_workload_kind_cascades_as_kubectl_asks(api_lab, ns, kind, cascade):
    api_lab.kubectl("apply", "-f", "-", input=WORKLOADS[kind].format(ns=ns))
    want = 3 if kind == "daemonset" else 2
    _wait(lambda: len(_pods(api_lab, ns, "app=w")) == want, what=f"{kind} pods")
    api_lab.kubectl("delete", kind, "w", "-n", ns, f"--cascade={cascade}", "--timeout=60s")
    assert api_lab.kubectl("get", kind, "w", "-n", ns, check=False).returncode == 1
    if cascade == "orphan":
        time.sleep(0.5)
        pods = _pods(api_lab, ns, "app=w")
        assert len(pods) == want and not any(p["metadata"].get("ownerReferences") for p in pods)
    else:
        _wait(lambda: not _pods(api_lab, ns, "app=w"), what="pods collected")


def test_kubectl_explain_reads_the_served_schemas(api_lab):
    out = api_lab.kubectl("explain", "deployment.spec.strategy").stdout
    assert "rollingUpdate" in out and "type" in out
    assert "completions" in api_lab.kubectl("explain", "job.spec").stdout
