"""The real lab (daemon, real node, cni enforce) driven the way a user drives it: real
``kubectl`` for every change, traffic from inside the pods' own network namespaces.

What the node-level tests cannot show: that the API server hands every change (a label on
a namespace or a pod, a new policy) to the CNI so reachability follows it live, that
``kubectl debug`` really starts a process in the pod's namespace as the UID it names, and
that the pods' only world is the lab. Every probe goes to a pod, a fake external host in a
documentation range (inside the lab), or an address the lab's node has no route for (the
packet stops at the node namespace: nothing leaves the lab).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from krl_lab_helpers import REPO, run_kubereach

from lab.node.netns import in_netns, list_netns

pytestmark = pytest.mark.lab

AGENT_IMAGE = "ghcr.io/kubereach/agent:0.1.0"


def _manifest(ns: str, ns_labels: dict[str, str]) -> str:
    labels = ", ".join(f"{k}: {v}" for k, v in ns_labels.items())
    return f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}, labels: {{{labels}}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {ns}, labels: {{app: server}}}}
spec:
  containers:
    - {{name: main, image: nginx:1.27, ports: [{{containerPort: 8080, name: http}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}, labels: {{app: client}}}}
spec:
  containers:
    - {{name: main, image: busybox:1.36, ports: [{{containerPort: 9000}}]}}
"""


@pytest.fixture(scope="module")
def lab(real_lab):
    """The demo lab plus two namespaces of our own: krl-live-a (team=a) and krl-live-b (team=b)."""
    for ns, team in (("krl-live-a", "a"), ("krl-live-b", "b")):
        real_lab.kubectl("apply", "-f", "-", input=_manifest(ns, {"team": team}))
    for ns in ("krl-live-a", "krl-live-b"):
        real_lab.kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod", "--all", "-n", ns, "--timeout=60s")
    return real_lab


def _instance(lab) -> str:
    return json.loads((lab.state_dir / "instance.json").read_text())["instanceId"]


def _pod_ip(lab, ns: str, name: str) -> str:
    return lab.kubectl("get", "pod", "-n", ns, name, "-o", "jsonpath={.status.podIP}").stdout


def _pod_netns(lab, ns: str, name: str) -> str:
    """The network namespace holding the pod's address (found in the kernel, not told by the lab)."""
    ip = _pod_ip(lab, ns, name)
    for netns in list_netns(f"krl-{_instance(lab)}-"):
        out = subprocess.run(["ip", "-n", netns, "-4", "-o", "addr"], capture_output=True, text=True).stdout
        if f" {ip}/" in out:
            return netns
    raise AssertionError(f"no network namespace holds {ns}/{name}'s address {ip}")


def _connect(netns: str, address: str, port: int, timeout: float = 0.8) -> str:
    """TCP connect from inside ``netns`` (on a worker thread: a thread, never the main one, hops)."""
    with ThreadPoolExecutor(1, thread_name_prefix="krl-live-probe") as pool:
        return pool.submit(_connect_in, netns, address, port, timeout).result(timeout + 10)


def _connect_in(netns: str, address: str, port: int, timeout: float) -> str:
    with in_netns(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            return "open"
        except ConnectionRefusedError:
            return "closed"
        except TimeoutError:
            return "filtered"
        except OSError as exc:
            return f"unreachable:{exc.errno}"


def _eventually(probe, expected: str, timeout: float = 10.0) -> str:
    """Recompiles are asynchronous (coalesced): wait for the expected state, return the last seen."""
    end = time.monotonic() + timeout
    got = probe()
    while got != expected and time.monotonic() < end:
        time.sleep(0.2)
        got = probe()
    return got


def _server_from(lab, src_ns: str, src: str, dst_ns: str = "krl-live-b"):
    netns = _pod_netns(lab, src_ns, src)
    ip = _pod_ip(lab, dst_ns, "server")
    return lambda: _connect(netns, ip, 8080)


POLICY_FROM_TEAM = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-trusted, namespace: krl-live-b}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {trusted: "yes"}}
          podSelector: {matchLabels: {role: caller}}
      ports: [{port: http}]
"""


def test_reapplying_the_demo_with_kubectl_changes_nothing(lab):
    def generations() -> dict[str, int]:
        items = json.loads(lab.kubectl("get", "networkpolicies", "-A", "-o", "json").stdout)["items"]
        return {f"{i['metadata']['namespace']}/{i['metadata']['name']}": i["metadata"]["generation"] for i in items}

    before = generations()
    for _ in range(2):
        proc = lab.kubectl("apply", "-f", str(REPO / "manifests" / "demo") + "/")
        out = proc.stdout.splitlines()
        assert out and all(line.endswith((" unchanged", " configured")) for line in out), out
        # `lab up -f` recorded the last-applied configuration, as kubectl apply does
        assert "last-applied-configuration" not in proc.stderr
        assert [line for line in out if line.startswith("namespace/")] == [
            "namespace/shop-frontend unchanged",
            "namespace/shop-backend unchanged",
            "namespace/shop-data unchanged",
        ]
    # "configured" lines resend server-defaulted fields (protocol: TCP, the demo's declared
    # status.podIP); no stored spec moves
    assert generations() == before


def test_namespace_and_pod_label_changes_change_reachability_live(lab):
    probe = _server_from(lab, "krl-live-a", "client")
    assert _eventually(probe, "open") == "open"  # no policy yet
    lab.kubectl("apply", "-f", "-", input=POLICY_FROM_TEAM)
    try:
        assert _eventually(probe, "filtered") == "filtered"  # neither label present
        lab.kubectl("label", "namespace", "krl-live-a", "trusted=yes")
        assert _eventually(probe, "filtered") == "filtered"  # namespace only: AND holds
        lab.kubectl("label", "pod", "-n", "krl-live-a", "client", "role=caller")
        assert _eventually(probe, "open") == "open"  # both: allowed
        lab.kubectl("label", "namespace", "krl-live-a", "trusted-")
        assert _eventually(probe, "filtered") == "filtered"  # namespace label gone again
        lab.kubectl("label", "namespace", "krl-live-a", "trusted=yes")
        assert _eventually(probe, "open") == "open"
        lab.kubectl("label", "pod", "-n", "krl-live-a", "client", "role-")
        assert _eventually(probe, "filtered") == "filtered"  # pod label gone
        # the policy's own port: another port of the server stays closed-or-filtered, never allowed
        # by the rule; the server's unlisted port is filtered once the pod is isolated
        netns = _pod_netns(lab, "krl-live-a", "client")
        assert _connect(netns, _pod_ip(lab, "krl-live-b", "server"), 9999) == "filtered"
    finally:
        lab.kubectl("delete", "networkpolicy", "-n", "krl-live-b", "from-trusted")
        lab.kubectl("label", "namespace", "krl-live-a", "trusted-", check=False)
        lab.kubectl("label", "pod", "-n", "krl-live-a", "client", "role-", check=False)
    assert _eventually(probe, "open") == "open"  # policy deleted: open again


def test_a_new_pod_matching_a_policy_peer_is_allowed_and_deleting_it_revokes(lab):
    lab.kubectl("apply", "-f", "-", input=POLICY_FROM_TEAM)
    lab.kubectl("label", "namespace", "krl-live-a", "trusted=yes")
    try:
        lab.kubectl("run", "-n", "krl-live-a", "caller", "--image=busybox:1.36", "--labels=role=caller", "--port=7000")
        lab.kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/caller", "-n", "krl-live-a", "--timeout=30s")
        probe = _server_from(lab, "krl-live-a", "caller")
        assert _eventually(probe, "open") == "open"
        other = _server_from(lab, "krl-live-a", "client")
        assert other() == "filtered"
    finally:
        lab.kubectl("delete", "pod", "-n", "krl-live-a", "caller", "--ignore-not-found")
        lab.kubectl("delete", "networkpolicy", "-n", "krl-live-b", "from-trusted")
        lab.kubectl("label", "namespace", "krl-live-a", "trusted-", check=False)


EGRESS_IPBLOCK = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-external, namespace: krl-live-a}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.10/32]}}]
      ports: [{port: 80}]
"""


def test_fake_external_hosts_answer_and_obey_ip_block_policies(lab):
    netns = _pod_netns(lab, "krl-live-a", "client")
    hosts = ("192.0.2.10", "192.0.2.20", "198.51.100.10", "203.0.113.10")
    assert [_connect(netns, h, 80) for h in hosts] == ["open"] * 4
    lab.kubectl("apply", "-f", "-", input=EGRESS_IPBLOCK)
    try:
        expected = ["filtered", "open", "filtered", "filtered"]
        assert _eventually(lambda: [_connect(netns, h, 80) for h in hosts], expected) == expected
        assert _connect(netns, "192.0.2.20", 443) == "filtered"  # port not listed
        # pod-to-pod egress is not in the block either
        assert _connect(netns, _pod_ip(lab, "krl-live-b", "server"), 8080) == "filtered"
    finally:
        lab.kubectl("delete", "networkpolicy", "-n", "krl-live-a", "egress-external")
    assert _eventually(lambda: _connect(netns, "192.0.2.10", 80), "open") == "open"


def test_a_pod_cannot_reach_anything_outside_the_lab(lab):
    netns = _pod_netns(lab, "krl-live-a", "client")
    host_ips = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout.split()
    host_ip = next((w.split("/")[0] for i, w in enumerate(host_ips) if host_ips[i - 1] == "inet"), None)
    # the pod's default route goes to the node, which has none: these stop at the node namespace
    targets = ["10.255.255.1", "8.8.8.8"] + ([host_ip] if host_ip else [])
    for target in targets:
        got = _connect(netns, target, 80, timeout=1.0)
        assert got != "open" and got != "closed", f"{target} answered from inside the lab: {got}"
    node = f"krl-{_instance(lab)}-node"
    routes = subprocess.run(["ip", "-n", node, "route"], capture_output=True, text=True).stdout
    assert "default" not in routes


def test_faults_through_the_cli_show_up_exactly_where_injected(lab):
    state = ["--state-dir", str(lab.state_dir)]
    probe_ab = _server_from(lab, "krl-live-a", "client")
    probe_bb = _server_from(lab, "krl-live-b", "client")
    assert probe_ab() == "open" and probe_bb() == "open"
    added = run_kubereach("lab", "fault", "deny", "krl-live-a/client", "krl-live-b/server", "8080/TCP", *state)
    assert added.returncode == 0, added.stderr
    try:
        assert _eventually(probe_ab, "filtered") == "filtered"
        assert probe_bb() == "open"  # another source: untouched
        netns = _pod_netns(lab, "krl-live-a", "client")
        assert _connect(netns, _pod_ip(lab, "krl-live-b", "client"), 9000) == "open"  # another destination
        listed = run_kubereach("lab", "fault", "list", *state).stdout
        assert "krl-live-a/client -> krl-live-b/server\t8080/TCP" in listed
    finally:
        assert run_kubereach("lab", "fault", "clear", *state).returncode == 0
    assert _eventually(probe_ab, "open") == "open"


def test_kubectl_debug_starts_an_ephemeral_process_on_the_pods_address_as_its_uid(lab, tmp_path):
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps({"securityContext": {"runAsUser": 4242, "runAsNonRoot": True}}))
    lab.kubectl(
        "debug",
        "-n",
        "krl-live-a",
        "client",
        f"--image={AGENT_IMAGE}",
        "-c",
        "dbg",
        "--attach=false",
        f"--custom={custom}",
        "--",
        "sh",
        "-c",
        "id -u; ip -4 -o addr show scope global",
    )
    spec = json.loads(lab.kubectl("get", "pod", "-n", "krl-live-a", "client", "-o", "json").stdout)["spec"]
    assert [c["name"] for c in spec["ephemeralContainers"]] == ["dbg"]
    logs = ""
    for _ in range(100):
        proc = lab.kubectl("logs", "-n", "krl-live-a", "client", "-c", "dbg", check=False)
        logs = proc.stdout
        if proc.returncode == 0 and "inet" in logs:
            break
        time.sleep(0.1)
    lines = logs.splitlines()
    assert lines[0] == "4242", logs
    assert f" {_pod_ip(lab, 'krl-live-a', 'client')}/" in logs
    status = json.loads(lab.kubectl("get", "pod", "-n", "krl-live-a", "client", "-o", "json").stdout)["status"]
    eph = {c["name"]: c for c in status.get("ephemeralContainerStatuses", [])}
    assert "dbg" in eph
    # an ephemeral container can never be changed or removed
    patch = json.dumps({"spec": {"ephemeralContainers": []}})
    refused = lab.kubectl(
        "patch",
        "pod",
        "-n",
        "krl-live-a",
        "client",
        "--subresource=ephemeralcontainers",
        "--type=merge",
        "-p",
        patch,
        check=False,
    )
    assert refused.returncode == 1 and "ephemeralContainers" in refused.stderr


def test_restart_policy_never_and_active_deadline_are_honoured(lab):
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "{name}", "namespace": "krl-live-a"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": AGENT_IMAGE, "command": ["sh", "-c", "{cmd}"]}],
        },
    }
    failing = json.loads(json.dumps(body).replace("{name}", "exits-3").replace("{cmd}", "echo bye; exit 3"))
    slow = json.loads(json.dumps(body).replace("{name}", "too-slow").replace("{cmd}", "sleep 30"))
    slow["spec"]["activeDeadlineSeconds"] = 2
    for pod in (failing, slow):
        lab.kubectl("apply", "-f", "-", input=json.dumps(pod))
    try:
        lab.kubectl(
            "wait",
            "--for=jsonpath={.status.phase}=Failed",
            "pod/exits-3",
            "pod/too-slow",
            "-n",
            "krl-live-a",
            "--timeout=30s",
        )
        done = json.loads(lab.kubectl("get", "pod", "-n", "krl-live-a", "exits-3", "-o", "json").stdout)
        cs = done["status"]["containerStatuses"][0]
        assert cs["state"]["terminated"]["exitCode"] == 3 and cs["restartCount"] == 0
        time.sleep(1.0)  # Never: it stays down
        again = json.loads(lab.kubectl("get", "pod", "-n", "krl-live-a", "exits-3", "-o", "json").stdout)
        assert again["status"]["containerStatuses"][0]["restartCount"] == 0
        assert lab.kubectl("logs", "-n", "krl-live-a", "exits-3").stdout == "bye\n"
        slow_st = json.loads(lab.kubectl("get", "pod", "-n", "krl-live-a", "too-slow", "-o", "json").stdout)
        assert slow_st["status"]["reason"] == "DeadlineExceeded"
    finally:
        lab.kubectl("delete", "pod", "-n", "krl-live-a", "exits-3", "too-slow", "--ignore-not-found")


def test_kubectl_watch_sees_a_pod_go_running_then_get_deleted(lab):
    proc = subprocess.Popen(
        [
            str(REPO / ".venv/bin/kubectl"),
            "get",
            "pods",
            "-n",
            "krl-live-b",
            "-w",
            "--request-timeout=5s",
            "--output-watch-events",
            "-o",
            "custom-columns=EVENT:.type,NAME:.object.metadata.name,PHASE:.object.status.phase",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=lab.env(),
    )
    time.sleep(1.0)
    lab.kubectl("run", "-n", "krl-live-b", "watched", "--image=busybox:1.36", "--port=7100")
    lab.kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/watched", "-n", "krl-live-b", "--timeout=30s")
    lab.kubectl("delete", "pod", "-n", "krl-live-b", "watched", "--wait=false")
    out, err = proc.communicate(timeout=30)
    lines = [line.split() for line in out.splitlines() if "watched" in line]
    assert ["ADDED", "watched", "Pending"] in lines or ["ADDED", "watched", "Running"] in lines, out + err
    assert ["MODIFIED", "watched", "Running"] in lines, out
    assert any(line[0] == "DELETED" for line in lines), out


def test_cni_none_ignores_policies_but_faults_still_apply(tmp_path):
    from krl_lab_helpers import start_real_lab, stop_real_lab

    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        _manifest("krl-none", {"team": "n"})
        + """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: krl-none}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"""
    )
    lab = start_real_lab(tmp_path, "--cni", "none", "-f", str(manifest))
    try:
        status = json.loads(run_kubereach("lab", "status", "-o", "json", "--state-dir", str(lab.state_dir)).stdout)
        assert status["cni"] == "none" and status["networkPolicies"] == 1
        probe = _server_from(lab, "krl-none", "client", dst_ns="krl-none")
        assert probe() == "open"  # the deny-all policy is ignored
        added = run_kubereach(
            "lab", "fault", "deny", "krl-none/client", "krl-none/server", "8080/TCP", "--state-dir", str(lab.state_dir)
        )
        assert added.returncode == 0, added.stderr
        assert _eventually(probe, "filtered") == "filtered"
    finally:
        stop_real_lab(lab)
