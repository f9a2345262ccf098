"""A user's sweep in the enforcing lab: progress on a terminal only, the kubectl plugin,
and pods deleted while the sweep runs."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from tests.e2e.conftest import BIN, FAST, KUBEREACH, ROOT, read_rows

pytestmark = pytest.mark.lab

NS = "kr5-vanish"


def run_with_tty_stderr(args: list[str], timeout: float = 120) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe: (rc, stdout, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT)
    os.close(slave)
    seen = b""
    stop = time.monotonic() + timeout
    try:
        while time.monotonic() < stop:
            # poll(), not select(): select() fails on descriptors past 1,024
            poller = select.poll()
            poller.register(master, select.POLLIN)
            if poller.poll(500):
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out = proc.stdout.read().decode()
        rc = proc.wait(10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return rc, out, seen.decode(errors="replace")


def test_progress_is_drawn_on_a_terminal_and_never_on_stdout(enforce_lab, tmp_path):
    rc, out, tty = run_with_tty_stderr(
        [
            KUBEREACH,
            "sweep",
            "--kubeconfig",
            enforce_lab.kubeconfig,
            "-n",
            "shop-frontend",
            "-o",
            str(tmp_path / "r"),
            *FAST,
        ]
    )
    assert rc == 0, out + tty
    assert "\rkubereach: probing: agents 3/3, probes" in tty  # redrawn in place, then cleared
    assert "agents 0/3" not in out and "\r" not in out
    assert "Exit status 0" in out and "Exit status" not in tty
    # off a terminal (a pipe, a CI log) there is no progress line at all
    p = enforce_lab.sweep(tmp_path / "r2", "-n", "shop-frontend")
    assert p.returncode == 0 and "\r" not in p.stderr and "probing" not in p.stderr


def test_kubectl_reach_plugin_runs_the_sweep(enforce_lab, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = enforce_lab.kubeconfig
    out = tmp_path / "r"
    p = subprocess.run(
        ["kubectl", "reach", "sweep", "-n", "shop-data", "-o", str(out), *FAST],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Exit status 0" in p.stdout and (out / "probes.csv").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["context"] == "kubereach-lab" and run["namespaces"] == ["shop-data"]
    assert run["options"]["sweep"]["started_at"] == run["started_at"] != ""
    assert run["versions"]["kubereach"] and run["versions"]["kubernetes_client"]
    assert run["timings"]["probe_s"] > 0 and run["api_calls"]["total"] == len(run["api_calls"]["log"]) > 0
    p = subprocess.run(
        ["kubectl", "reach", "cleanup", "-n", "shop-data"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert p.returncode == 0 and "0 object(s) removed in shop-data" in p.stdout, p.stdout + p.stderr


def vanish_manifests() -> str:
    pods = []
    for i, name in enumerate(("stay", "victim", "slow")):
        pods.append(f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {NS}, labels: {{app: {name}}}}}
spec:
  containers:
    - name: app
      image: nginx:1.27
      ports: [{{containerPort: 8080}}]
      securityContext: {{runAsUser: {2000 + i}, runAsNonRoot: true}}
""")
    # Probes to `slow` are dropped: every agent takes --timeout seconds, long enough to
    # delete `victim` while the sweep runs.
    deny = f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: slow-deny-ingress, namespace: {NS}}}
spec: {{podSelector: {{matchLabels: {{app: slow}}}}, policyTypes: [Ingress]}}
"""
    return "---\n".join([f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n", *pods, deny])


def test_pods_deleted_mid_sweep_make_their_probes_inconclusive_and_the_sweep_goes_on(enforce_lab, tmp_path):
    manifest = tmp_path / "vanish.yaml"
    manifest.write_text(vanish_manifests())
    enforce_lab.kubectl("apply", "-f", str(manifest))
    try:
        stop = time.monotonic() + 60
        while time.monotonic() < stop:
            pods = json.loads(enforce_lab.kubectl("get", "pods", "-n", NS, "-o", "json"))["items"]
            if len(pods) == 3 and all(p["status"].get("phase") == "Running" for p in pods):
                break
            time.sleep(0.3)
        out = tmp_path / "r"
        proc = subprocess.Popen(
            [
                KUBEREACH,
                "sweep",
                "--kubeconfig",
                enforce_lab.kubeconfig,
                "-n",
                NS,
                "-o",
                str(out),
                "--timeout",
                "4",
                "--retries",
                "0",
                "--settle",
                "0",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # wait until this sweep's agent runs in `victim`, then delete it
            stop = time.monotonic() + 60
            while time.monotonic() < stop and proc.poll() is None:
                pod = json.loads(enforce_lab.kubectl("get", "pod", "-n", NS, "victim", "-o", "json"))
                if pod["spec"].get("ephemeralContainers"):
                    break
                time.sleep(0.1)
            assert proc.poll() is None, "the sweep ended before the pod could be deleted"
            enforce_lab.kubectl("delete", "pod", "-n", NS, "victim", "--wait=false")
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 3, stdout + stderr
        assert "Traceback" not in stderr
        rows = read_rows(out)
        touched = [r for r in rows if f"{NS}/victim" in (r["source"], r["destination"])]
        assert {r["source"] for r in touched} >= {f"{NS}/victim"}
        assert {r["destination"] for r in touched} >= {f"{NS}/victim"}
        assert {r["verdict"] for r in touched} == {"inconclusive"}, touched
        assert any(
            "victim was deleted during the sweep" in r["reason"] for r in touched if r["destination"] == f"{NS}/victim"
        )
        rest = [r for r in rows if r not in touched]
        assert rest and {r["verdict"] for r in rest} == {"ok"}, rest
        assert {r["state"] for r in rest if r["destination"] == f"{NS}/slow"} == {"filtered"}
        assert "Inconclusive (" in stdout
        assert enforce_lab.kubereach_objects() == []
    finally:
        # wait for it: other tests sweep -A and count the demo's agents
        subprocess.run(
            [
                str(BIN / "kubectl"),
                "--kubeconfig",
                enforce_lab.kubeconfig,
                "delete",
                "-f",
                str(manifest),
                "--ignore-not-found",
                "--timeout=60s",
            ],
            capture_output=True,
            timeout=90,
        )
