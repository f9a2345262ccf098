"""A real lab with three nodes, driven with the real kubectl (needs root).

What only the real nodes can show: pods on different nodes reach each other across the
node network and Services route to the ready endpoints; policies hold across nodes; a
DaemonSet's pods really run on every node; a readiness probe decides whether a pod gets
Service traffic; a Job's container really runs its command and the Job follows its exit
status; an image the lab was told is missing keeps its pod in ErrImagePull; and no node
namespace has a way out of the lab.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from krl_lab_helpers import connect_from, start_real_lab, stop_real_lab

pytestmark = pytest.mark.lab

MISSING = "registry.example.com/nobody/published:1.0"

APP = """\
apiVersion: v1
kind: Namespace
metadata: {name: nodes}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere, namespace: nodes}
spec:
  selector: {matchLabels: {app: everywhere}}
  template:
    metadata: {labels: {app: everywhere}}
    spec:
      containers: [{name: c, image: nginx:1.27, ports: [{containerPort: 80, name: http}]}]
---
apiVersion: v1
kind: Service
metadata: {name: everywhere, namespace: nodes}
spec:
  selector: {app: everywhere}
  ports: [{name: http, port: 80, targetPort: http}]
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("krl-nodes")
    (tmp / "app.yaml").write_text(APP)
    lab = start_real_lab(tmp, "--nodes", "3", "--missing-image", MISSING, "-f", str(tmp / "app.yaml"))
    yield lab
    stop_real_lab(lab)


def _json(lab, *args):
    return json.loads(lab.kubectl(*args, "-o", "json").stdout)


def _wait(check, timeout=90.0, what="condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def _connect(lab, src_ip: str, dst: str, port: int) -> str:
    return connect_from(lab, src_ip, dst, port)


def test_nodes_are_listed_with_their_addresses_and_the_daemonset_runs_on_each(lab):
    rows = [line.split() for line in lab.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[5]) for r in rows] == [
        ("krl-node-0", "Ready", "172.18.0.10"),
        ("krl-node-1", "Ready", "172.18.0.11"),
        ("krl-node-2", "Ready", "172.18.0.12"),
    ]
    pods = _json(lab, "get", "pods", "-n", "nodes", "-l", "app=everywhere")["items"]
    by_node = {p["spec"]["nodeName"]: p for p in pods}
    assert sorted(by_node) == ["krl-node-0", "krl-node-1", "krl-node-2"]
    for i in range(3):
        p = by_node[f"krl-node-{i}"]
        assert p["status"]["hostIP"] == f"172.18.0.{10 + i}"
        assert p["status"]["podIP"].startswith(f"10.244.{16 * i}.")


def test_pods_reach_each_other_across_nodes_and_through_the_service(lab):
    pods = sorted(
        _json(lab, "get", "pods", "-n", "nodes", "-l", "app=everywhere")["items"], key=lambda p: p["spec"]["nodeName"]
    )
    ips = [p["status"]["podIP"] for p in pods]
    identity = json.loads(_connect(lab, ips[0], ips[2], 80))
    assert (identity["namespace"], identity["pod"]) == ("nodes", pods[2]["metadata"]["name"])
    cluster_ip = _json(lab, "get", "svc", "everywhere", "-n", "nodes")["spec"]["clusterIP"]
    seen = {json.loads(_connect(lab, ips[1], cluster_ip, 80))["pod"] for _ in range(12)}
    assert len(seen) >= 2  # endpoints on several nodes answer
    # a policy on node 2's pod, enforced there for traffic from node 0
    policy = f"""\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: only-node1, namespace: nodes}}
spec:
  podSelector: {{matchLabels: {{role: target}}}}
  ingress: [{{from: [{{ipBlock: {{cidr: {ips[1]}/32}}}}]}}]
"""
    target = pods[2]["metadata"]["name"]
    lab.kubectl("label", "pod", target, "-n", "nodes", "role=target")
    lab.kubectl("apply", "-f", "-", input=policy)
    try:
        _wait(lambda: _connect(lab, ips[0], ips[2], 80).startswith("failed"), what="node 0 -> node 2 blocked")
        assert json.loads(_connect(lab, ips[1], ips[2], 80))["pod"] == target
    finally:
        lab.kubectl("delete", "networkpolicy", "only-node1", "-n", "nodes")
        lab.kubectl("label", "pod", target, "-n", "nodes", "role-")


def test_readiness_probe_decides_service_endpoints(lab):
    manifest = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: probed, namespace: nodes}
spec:
  replicas: 2
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
        - name: c
          image: nginx:1.27
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: never-ready, namespace: nodes}
spec:
  replicas: 1
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed, variant: broken}}
    spec:
      containers:
        - name: c
          image: nginx:1.27
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1}
"""
    lab.kubectl("apply", "-f", "-", input=manifest)
    lab.kubectl("rollout", "status", "deployment/probed", "-n", "nodes", "--timeout=90s")
    lab.kubectl("expose", "deployment", "probed", "-n", "nodes", "--port=80", "--target-port=8080", "--name=probed")

    def endpoints():
        slices = _json(lab, "get", "endpointslices", "-n", "nodes", "-l", "kubernetes.io/service-name=probed")
        return {
            e["targetRef"]["name"]: e["conditions"]["ready"] for s in slices["items"] for e in s.get("endpoints") or ()
        }

    eps = _wait(lambda: (e := endpoints()) and len(e) == 3 and e, what="three endpoints")
    broken = [n for n in eps if n.startswith("never-ready-")]
    assert [eps[n] for n in broken] == [False] and sum(eps.values()) == 2
    pod = _json(lab, "get", "pod", broken[0], "-n", "nodes")
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    row = lab.kubectl("get", "pod", broken[0], "-n", "nodes").stdout.splitlines()[1].split()
    assert row[1:3] == ["0/1", "Running"]


def test_a_job_runs_its_command_and_follows_its_exit_status(lab):
    manifest = """\
apiVersion: batch/v1
kind: Job
metadata: {name: works, namespace: nodes}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36, command: [sh, -c, "echo working as $(id -u); exit 0"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails, namespace: nodes}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox:1.36, command: [sh, -c, "exit 7"]}]
"""
    lab.kubectl("apply", "-f", "-", input=manifest)
    lab.kubectl("wait", "--for=condition=complete", "job/works", "-n", "nodes", "--timeout=90s")
    lab.kubectl("wait", "--for=condition=failed", "job/fails", "-n", "nodes", "--timeout=90s")
    logs = lab.kubectl("logs", "-n", "nodes", "-l", "batch.kubernetes.io/job-name=works").stdout
    assert logs.count("working as 65534") == 2  # a Job's command never runs as root on this machine
    pod = _json(lab, "get", "pods", "-n", "nodes", "-l", "batch.kubernetes.io/job-name=fails")["items"][0]
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 7


def test_a_missing_image_waits_in_err_image_pull_then_back_off(lab):
    lab.kubectl("run", "unpullable", "-n", "nodes", f"--image={MISSING}")

    def reason():
        pod = _json(lab, "get", "pod", "unpullable", "-n", "nodes")
        waiting = ((pod["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        return waiting.get("reason"), waiting.get("message", "")

    # ContainerCreating while the pod's network is set up, then the pull fails (ErrImagePull
    # shows for PULL_ERROR_SECONDS, long enough to be seen by this poll)
    first = _wait(lambda: (r := reason())[0] in ("ErrImagePull", "ImagePullBackOff") and r, what="a pull error")
    assert first[0] == "ErrImagePull"
    assert f'failed to pull and unpack image "{MISSING}"' in first[1]
    _wait(lambda: reason()[0] == "ImagePullBackOff", what="ImagePullBackOff")
    assert reason()[1].startswith(f'Back-off pulling image "{MISSING}"')
    assert _json(lab, "get", "pod", "unpullable", "-n", "nodes")["status"]["phase"] == "Pending"
    lab.kubectl("delete", "pod", "unpullable", "-n", "nodes", "--wait=false")


def test_an_ephemeral_agent_with_a_missing_image_waits_in_err_image_pull(lab):
    """What a sweep meets when its --agent-image was never published."""
    pod = _json(lab, "get", "pods", "-n", "nodes", "-l", "app=everywhere")["items"][0]["metadata"]["name"]
    lab.kubectl("debug", "-n", "nodes", pod, f"--image={MISSING}", "--attach=false", "-c", "agent")

    def waiting():
        got = _json(lab, "get", "pod", pod, "-n", "nodes")
        statuses = got["status"].get("ephemeralContainerStatuses") or []
        return next((s["state"].get("waiting") for s in statuses if s["name"] == "agent"), None)

    state = _wait(waiting, what="the agent's waiting state")
    assert state["reason"] in ("ErrImagePull", "ImagePullBackOff") and MISSING in state["message"]
    assert _json(lab, "get", "pod", pod, "-n", "nodes")["status"]["phase"] == "Running"  # the pod itself runs on


def test_no_node_has_a_way_out_of_the_lab(lab):
    instance = json.loads((lab.state_dir / "instance.json").read_text())["instanceId"]
    for i in range(3):
        netns = f"krl-{instance}-node{i}"
        routes = subprocess.run(["ip", "-n", netns, "route"], capture_output=True, text=True).stdout
        assert "default" not in routes
        out = subprocess.run(["ip", "-n", netns, "route", "get", "8.8.8.8"], capture_output=True, text=True)
        assert out.returncode != 0 and "unreachable" in out.stderr.lower()
    fabric = subprocess.run(["ip", "-n", f"krl-{instance}-fabric", "-o", "link"], capture_output=True, text=True)
    kinds = sorted(line.split(":")[1].strip().split("@")[0] for line in fabric.stdout.splitlines())
    assert kinds == sorted(
        ["lo", f"krl{instance}br", f"krl{instance}n0", f"krl{instance}n1", f"krl{instance}n2", f"krl{instance}x"]
    )
