"""`kubereach lab up|down|status|kubeconfig|fault` as real processes.

Most tests run the daemon with the in-memory node (no root needed); the ones marked
``lab`` run the real node and check that ``down`` leaves the kernel as it found it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from krl_lab_helpers import REPO, fake_daemon_env, run_kubereach, start_real_lab, stop_real_lab


@pytest.fixture
def fake_lab(tmp_path):
    state = tmp_path / "state"
    env = fake_daemon_env()
    proc = run_kubereach("lab", "up", "--state-dir", str(state), env=env)
    assert proc.returncode == 0, proc.stderr
    yield state, env, proc
    run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def _kubectl(kubeconfig: Path, home: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env.update(HOME=str(home), KUBECONFIG=str(kubeconfig))
    return subprocess.run(
        [str(REPO / ".venv/bin/kubectl"), *args], input=input, capture_output=True, text=True, env=env, timeout=60
    )


def test_up_prints_kubeconfig_and_kubectl_example(fake_lab, tmp_path):
    state, env, proc = fake_lab
    kubeconfig = Path(proc.stdout.strip())
    assert kubeconfig == state / "kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert f"kubectl --kubeconfig {kubeconfig} get pods -A" in proc.stderr
    text = kubeconfig.read_text()
    assert "certificate-authority-data" in text and re.search(r"server: https://127\.0\.0\.1:\d+", text)
    (tmp_path / "home").mkdir()
    got = _kubectl(kubeconfig, tmp_path / "home", "get", "ns", "-o", "name")
    assert "namespace/default" in got.stdout.split()


def test_second_up_says_a_lab_is_running_and_exits_2(fake_lab):
    state, env, _ = fake_lab
    again = run_kubereach("lab", "up", "--state-dir", str(state), env=env)
    assert again.returncode == 2
    assert "already running" in again.stderr


def test_status_and_kubeconfig_commands(fake_lab):
    state, env, _ = fake_lab
    status = run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env)
    assert status.returncode == 0
    info = json.loads(status.stdout)
    assert info["running"] and info["url"].startswith("https://127.0.0.1:") and info["pods"] == 0
    text = run_kubereach("lab", "status", "--state-dir", str(state), env=env).stdout
    assert "instance:" in text and info["instance"] in text
    path = run_kubereach("lab", "kubeconfig", "--state-dir", str(state), env=env).stdout.strip()
    assert path == str(state / "kubeconfig")
    shown = run_kubereach("lab", "kubeconfig", "--show", "--state-dir", str(state), env=env).stdout
    assert shown == (state / "kubeconfig").read_text()


SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
""" + "".join(
    f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: shop}}
spec: {{containers: [{{name: c, image: x, ports: [{{containerPort: 80}}]}}]}}
"""
    for name in ("web", "db", "api")
)


def _shop(state: Path, home: Path) -> None:
    home.mkdir(exist_ok=True)
    got = _kubectl(state / "kubeconfig", home, "apply", "-f", "-", input=SHOP)
    assert got.returncode == 0, got.stderr


def test_fault_allow_deny_list_remove_clear(fake_lab, tmp_path):
    state, env, _ = fake_lab
    _shop(state, tmp_path / "home")
    a = run_kubereach("lab", "fault", "allow", "shop/web", "shop/db", "5432/TCP", "--state-dir", str(state), env=env)
    assert a.returncode == 0, a.stderr
    run_kubereach("lab", "fault", "deny", "shop/api", "shop/db", "53/udp", "--state-dir", str(state), env=env)
    listed = run_kubereach("lab", "fault", "list", "--state-dir", str(state), env=env).stdout.splitlines()
    assert listed == ["allow\tshop/web -> shop/db\t5432/TCP", "deny\tshop/api -> shop/db\t53/UDP"]
    bad = run_kubereach("lab", "fault", "deny", "web", "shop/db", "99999", "--state-dir", str(state), env=env)
    assert bad.returncode == 2
    flip = run_kubereach("lab", "fault", "deny", "shop/web", "shop/db", "5432", "--state-dir", str(state), env=env)
    assert flip.stdout.splitlines() == ["deny\tshop/api -> shop/db\t53/UDP", "deny\tshop/web -> shop/db\t5432/TCP"]
    gone = run_kubereach("lab", "fault", "remove", "shop/api", "shop/db", "53/UDP", "--state-dir", str(state), env=env)
    assert gone.returncode == 0 and gone.stdout.splitlines() == ["deny\tshop/web -> shop/db\t5432/TCP"]
    again = run_kubereach("lab", "fault", "remove", "shop/api", "shop/db", "53/UDP", "--state-dir", str(state), env=env)
    assert again.returncode == 2 and "no fault shop/api -> shop/db 53/UDP is in force" in again.stderr
    run_kubereach("lab", "fault", "clear", "--state-dir", str(state), env=env)
    assert run_kubereach("lab", "fault", "list", "--state-dir", str(state), env=env).stdout == ""


def test_fault_naming_a_pod_that_does_not_exist_is_refused_with_the_pods_there(fake_lab, tmp_path):
    state, env, _ = fake_lab
    _shop(state, tmp_path / "home")
    typo = run_kubereach("lab", "fault", "deny", "shop/webb", "shop/db", "80/TCP", "--state-dir", str(state), env=env)
    assert typo.returncode == 2
    assert "no pod shop/webb (the fault's source); pods in shop: api, db, web" in typo.stderr
    nowhere = run_kubereach("lab", "fault", "deny", "shop/web", "prod/db", "80/TCP", "--state-dir", str(state), env=env)
    assert nowhere.returncode == 2 and "no pod prod/db (the fault's destination); namespace prod has no pods" in (
        nowhere.stderr
    )
    assert run_kubereach("lab", "fault", "list", "--state-dir", str(state), env=env).stdout == ""


def test_up_skips_kustomize_and_non_kubernetes_yaml_with_a_hint_and_a_count(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources: [deploy.yaml]\n")
    (app / "values.yaml").write_text("replicas: 3\n")
    (app / "deploy.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: k}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: k}\n---\n"
        "just: some settings\n"
    )
    state = tmp_path / "state"
    env = fake_daemon_env()
    proc = run_kubereach("lab", "up", "-f", str(app), "--state-dir", str(state), env=env)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "kustomization.yaml is a kustomize file: render it first: `kubectl kustomize DIR" in proc.stderr
        assert "values.yaml belongs to a Helm chart: render the chart first: `helm template" in proc.stderr
        assert (
            "skipped 4 documents the lab does not apply: 1 Helm chart file, 1 Kustomization, "
            "1 networking.k8s.io/v1 Ingress, 1 not Kubernetes (no apiVersion and kind)"
        ) in proc.stderr
        assert "applied 1 objects" in proc.stderr
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_up_reads_manifests_from_stdin_and_waits_for_a_deployment_to_roll_out(tmp_path):
    state = tmp_path / "state"
    env = fake_daemon_env()
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n"
        "spec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: c, image: nginx:1.27, ports: [{containerPort: 80}]}]}\n"
    )
    proc = run_kubereach("lab", "up", "--nodes", "2", "-f", "-", "--state-dir", str(state), env=env, input=deployment)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "pods running: 3" in proc.stderr  # `up` waited for the ReplicaSet's pods, not just the object
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_up_with_nodes_and_a_missing_image_reports_the_pull_failure(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n"
        "spec: {containers: [{name: c, image: registry.example.com/team/app:2.0}]}\n"
    )
    state = tmp_path / "state"
    env = fake_daemon_env()
    proc = run_kubereach(
        "lab",
        "up",
        "--nodes",
        "3",
        "--missing-image",
        "registry.example.com/team/app:2.0",
        "-f",
        str(manifest),
        "--state-dir",
        str(state),
        "--timeout",
        "60",
        env=env,
    )
    try:
        assert proc.returncode == 3
        assert "pods cannot start:\n  default/p: c: ErrImagePull" in proc.stderr or "ImagePullBackOff" in proc.stderr
        assert 'failed to pull and unpack image "registry.example.com/team/app:2.0"' in proc.stderr
        info = json.loads(run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env).stdout)
        assert [n["name"] for n in info["nodes"]] == ["krl-node-0", "krl-node-1", "krl-node-2"]
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_up_applies_manifests_in_dependency_order_and_waits_for_pods(tmp_path):
    manifests = tmp_path / "m"
    manifests.mkdir()
    # pods first in the file, their namespace last: `up` must order them itself
    (manifests / "all.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: krl-demo, labels: {app: a}}\n"
        "spec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: krl-demo}\n"
        "spec: {podSelector: {}}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: krl-demo}\n"
    )
    state = tmp_path / "state"
    env = fake_daemon_env()
    proc = run_kubereach("lab", "up", "-f", str(manifests), "--state-dir", str(state), env=env)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "pods running: 1" in proc.stderr
        (tmp_path / "home").mkdir()
        got = _kubectl(state / "kubeconfig", tmp_path / "home", "get", "pods", "-n", "krl-demo", "-o", "name")
        assert got.stdout.split() == ["pod/a"]
        # `up -f` records what it applied as `kubectl apply` does: re-applying the same files
        # with kubectl changes nothing and warns about nothing
        again = _kubectl(state / "kubeconfig", tmp_path / "home", "apply", "-f", str(manifests))
        assert again.returncode == 0, again.stderr
        assert sorted(again.stdout.splitlines()) == [
            "namespace/krl-demo unchanged",
            "networkpolicy.networking.k8s.io/deny unchanged",
            "pod/a unchanged",
        ]
        assert "last-applied-configuration" not in again.stderr
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def test_up_refuses_bad_manifests_before_starting(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {labels: {app: d}}\n")
    state = tmp_path / "state"
    proc = run_kubereach("lab", "up", "-f", str(bad), "--state-dir", str(state), env=fake_daemon_env())
    assert proc.returncode == 2
    assert "bad.yaml#1" in proc.stderr and "metadata.name is required" in proc.stderr
    assert not state.exists()


def test_up_refuses_a_non_lab_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    proc = run_kubereach("lab", "up", "--state-dir", str(tmp_path), env=fake_daemon_env())
    assert proc.returncode == 2
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_down_stops_the_daemon_and_removes_the_state_dir(tmp_path):
    state = tmp_path / "state"
    env = fake_daemon_env()
    assert run_kubereach("lab", "up", "--state-dir", str(state), env=env).returncode == 0
    pid = json.loads((state / "instance.json").read_text())["pid"]
    down = run_kubereach("lab", "down", "--state-dir", str(state), env=env)
    assert down.returncode == 0, down.stderr
    assert not state.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    again = run_kubereach("lab", "down", "--state-dir", str(state), env=env)
    assert again.returncode == 0 and "no lab" in again.stderr
    status = run_kubereach("lab", "status", "--state-dir", str(state), env=env)
    assert status.returncode == 3


def test_down_and_up_after_the_daemon_died(tmp_path):
    state = tmp_path / "state"
    env = fake_daemon_env()
    assert run_kubereach("lab", "up", "--state-dir", str(state), env=env).returncode == 0
    pid = json.loads((state / "instance.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    status = json.loads(run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env).stdout)
    assert status["running"] is False
    up = run_kubereach("lab", "up", "--state-dir", str(state), env=env)
    assert up.returncode == 0, up.stderr
    assert "no longer running" in up.stderr
    assert run_kubereach("lab", "down", "--state-dir", str(state), env=env).returncode == 0
    assert not state.exists()


# -- the real node -----------------------------------------------------------------------------
def _kernel_state() -> dict[str, str]:
    def run(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    iptables = "\n".join(line for line in run("iptables-save").splitlines() if not line.startswith("#"))
    return {
        "netns": run("ip", "netns", "list"),
        "link": run("ip", "-o", "link", "show"),
        "iptables": re.sub(r"\[\d+:\d+\]", "", iptables),
        "ipset": run("ipset", "list"),
    }


@pytest.mark.lab
def test_real_lab_up_demo_then_down_leaves_the_kernel_as_it_was(tmp_path):
    before = _kernel_state()
    lab = start_real_lab(tmp_path, "-f", str(REPO / "manifests" / "demo"))
    instance = json.loads((lab.state_dir / "instance.json").read_text())["instanceId"]
    try:
        pods = json.loads(lab.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
        assert pods and all(p["status"]["phase"] == "Running" for p in pods)
        assert all(p["status"]["podIP"].startswith("10.244.") for p in pods)
        assert instance in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        name = pods[0]["metadata"]["name"]
        ns = pods[0]["metadata"]["namespace"]
        container = pods[0]["spec"]["containers"][0]["name"]
        assert "answers on" in lab.kubectl("logs", "-n", ns, name, "-c", container).stdout
    finally:
        stop_real_lab(lab)
    after = _kernel_state()
    assert instance not in after["netns"] and instance not in after["link"]
    assert after["iptables"] == before["iptables"]
    assert after["ipset"] == before["ipset"]

    # other helpers create their own namespaces meanwhile: compare only what is not theirs
    def ours(text):
        return {line for line in text.splitlines() if "krl" in line}

    assert ours(after["netns"]) <= ours(before["netns"]) | {n for n in ours(after["netns"]) if instance not in n}
    assert not lab.state_dir.exists()


@pytest.mark.lab
def test_real_lab_rejects_a_second_up_and_cleans_up_after_a_killed_daemon(tmp_path):
    before = _kernel_state()
    lab = start_real_lab(tmp_path, "-f", str(REPO / "manifests" / "demo"))
    try:
        _second_up_faults_and_a_killed_daemon(lab)
    finally:
        if lab.state_dir.exists():  # a failed assertion must not leave a lab running
            run_kubereach("lab", "down", "--state-dir", str(lab.state_dir))
    after = _kernel_state()
    assert after["iptables"] == before["iptables"]
    assert after["ipset"] == before["ipset"]


def _second_up_faults_and_a_killed_daemon(lab) -> None:
    instance = json.loads((lab.state_dir / "instance.json").read_text())["instanceId"]
    again = run_kubereach("lab", "up", "--state-dir", str(lab.state_dir))
    assert again.returncode == 2
    # faults reach the real node's CNI through the daemon's private endpoint
    added = run_kubereach(
        "lab", "fault", "deny", "shop-frontend/web-1", "shop-backend/api-1", "80/TCP", "--state-dir", str(lab.state_dir)
    )
    assert added.returncode == 0, added.stderr
    assert run_kubereach("lab", "fault", "clear", "--state-dir", str(lab.state_dir)).returncode == 0
    pid = json.loads((lab.state_dir / "instance.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert instance in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    stop_real_lab(lab)
    after = _kernel_state()
    assert instance not in after["netns"] and instance not in after["link"]
    # no process of the lab survives: listeners and agents lived in its namespaces
    leftovers = subprocess.run(["pgrep", "-f", str(lab.state_dir)], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
    assert not lab.state_dir.exists()


def test_lab_up_as_non_root_refuses_clearly_and_creates_nothing(tmp_path, monkeypatch, capsys):
    from lab import control
    from orchestrator.cli import main

    monkeypatch.delenv(control.NODE_FACTORY_ENV, raising=False)
    monkeypatch.setattr(control.lifecycle.os, "geteuid", lambda: 1000)
    state = tmp_path / "state"
    assert main(["lab", "up", "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err
    assert "the lab needs root" in err and "sudo kubereach lab up" in err
    assert "Traceback" not in err
    assert not state.exists()


def test_up_with_a_node_that_cannot_start_reports_the_log_and_leaves_nothing(tmp_path):
    state = tmp_path / "state"
    env = {**fake_daemon_env(), "KUBEREACH_LAB_NODE_FACTORY": "fake_node:FailingPool"}
    proc = run_kubereach("lab", "up", "--state-dir", str(state), env=env)
    assert proc.returncode == 3
    assert "cannot create the node namespace" in proc.stderr
    assert not state.exists()


def test_up_with_an_invalid_object_keeps_the_lab_and_says_how_to_stop_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: c, image: x}]}\n")
    state = tmp_path / "state"
    env = fake_daemon_env()
    proc = run_kubereach("lab", "up", "-f", str(bad), "--state-dir", str(state), env=env)
    try:
        assert proc.returncode == 2
        assert "bad.yaml#1: Pod Bad_Name" in proc.stderr and "metadata.name" in proc.stderr
        assert "lab down" in proc.stderr
        assert json.loads(run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env).stdout)[
            "running"
        ]
    finally:
        run_kubereach("lab", "down", "--state-dir", str(state), env=env)


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of every socket listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.append(addr)
    return found


def test_the_daemons_api_listens_on_loopback_only_and_wants_the_token(fake_lab):
    state, env, _ = fake_lab
    url = json.loads(run_kubereach("lab", "status", "--state-dir", str(state), "-o", "json", env=env).stdout)["url"]
    port = int(url.rsplit(":", 1)[1])
    assert _listeners(port) == ["0100007F"]  # 127.0.0.1, nothing else, no IPv6
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(state / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/api/v1/pods", context=ctx, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["reason"] == "Unauthorized"
    for secret in ("kubeconfig", "server.key", "instance.json"):
        assert stat.S_IMODE((state / secret).stat().st_mode) == 0o600, secret
