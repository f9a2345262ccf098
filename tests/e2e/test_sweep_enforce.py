"""Sweeps of the demo in a lab whose CNI enforces NetworkPolicies, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import FAST, KUBEREACH, ROOT, predicted, read_rows, read_run

pytestmark = pytest.mark.lab


def intrapod_enforced(lab) -> bool:
    """Whether the webhook's init container applied the intra-pod rules to api-1."""
    pod = json.loads(lab.kubectl("get", "pod", "-n", "shop-backend", "api-1", "-o", "json"))
    return bool(pod["spec"].get("initContainers"))


def test_ephemeral_sweep_every_pod_row_ok_and_intrapod_rows_validated(enforce_lab, tmp_path):
    out = tmp_path / "r"
    p = enforce_lab.sweep(out, "-A")
    rows = read_rows(out)
    pod_rows = [r for r in rows if r["scope"] == "pod"]
    assert pod_rows and all(r["verdict"] == "ok" for r in pod_rows), [r for r in pod_rows if r["verdict"] != "ok"]
    # allowed and denied cells both occur: the sweep measured policy, not just connectivity
    assert {r["expected"] for r in pod_rows} == {"allow", "deny"}
    assert {r["state"] for r in pod_rows if r["expected"] == "deny"} <= {"filtered", "unreachable"}
    # the webhook's init container applied api-1's intra-pod rules: each pair as declared
    assert intrapod_enforced(enforce_lab)
    intra = [r for r in rows if r["scope"] == "intra-pod"]
    assert len(intra) == 8 and {r["expected"] for r in intra} == {"allow", "deny"}
    assert all(r["verdict"] == "ok" for r in intra), intra
    assert {r["state"] for r in intra if r["expected"] == "deny"} == {"closed"}  # rejected with RST
    assert p.returncode == 0, p.stdout + p.stderr
    # the model's expectation is the one `predict` gives for the same manifests
    model = predicted(enforce_lab)
    for r in rows:
        key = (r["source"], r["destination"], r["port"], r["protocol"])
        if key in model:
            assert model[key] == r["expected"], (key, r)
    run = read_run(out)
    assert run["agents"] == 10 and run["probes"] == len(rows)
    assert enforce_lab.kubereach_objects() == []
    assert "Results: " + str(out) in p.stdout


def test_pod_source_mode_probe_pods_measure_the_same_and_are_removed(enforce_lab, tmp_path):
    out = tmp_path / "r"
    p = enforce_lab.sweep(out, "-A", "--source-mode", "pod")
    assert p.returncode == 0, p.stdout + p.stderr
    rows = read_rows(out)
    assert rows and all(r["scope"] == "pod" and r["verdict"] == "ok" for r in rows)
    run = read_run(out)
    assert run["api_calls"]["by_call"]["create pods"] == run["agents"] == 8
    assert any("ephemeral" in s["reason"] for s in run["skipped"])
    assert enforce_lab.kubereach_objects() == []


def test_injected_faults_are_flagged_exactly_and_in_the_right_direction(enforce_lab, tmp_path):
    # web-1 -> orders-worker:9090 is denied by policy, web-1 -> api-2:8080 is allowed
    enforce_lab.lab("fault", "allow", "shop-frontend/web-1", "shop-backend/orders-worker", "9090/TCP")
    enforce_lab.lab("fault", "deny", "shop-frontend/web-1", "shop-backend/api-2", "8080/TCP")
    try:
        out = tmp_path / "r"
        p = enforce_lab.sweep(out, "-A", "--from", "shop-frontend:")
        assert p.returncode == 1, p.stderr
        rows = read_rows(out)
        flagged = {
            (r["source"], r["destination"], r["port"]): (r["verdict"], r["confirmed"])
            for r in rows
            if r["verdict"] != "ok"
        }
        assert flagged == {
            ("shop-frontend/web-1", "shop-backend/orders-worker", "9090"): ("unexpected-allow", "yes"),
            ("shop-frontend/web-1", "shop-backend/api-2", "8080"): ("unexpected-deny", "yes"),
        }
        assert {r["source"] for r in rows} <= {"shop-frontend/web-1", "shop-frontend/web-2", "shop-frontend/checkout-1"}
        assert "unexpected-allow" in p.stdout and "shop-backend/orders-worker" in p.stdout
    finally:
        enforce_lab.lab("fault", "clear")


def test_namespace_and_to_selectors_scope_the_sweep(enforce_lab, tmp_path):
    out = tmp_path / "r"
    p = enforce_lab.sweep(out, "-n", "shop-backend", "--to", "app=api", "--port", "8080")
    assert p.returncode == 0, p.stderr
    rows = read_rows(out)
    assert rows and {r["source"].split("/")[0] for r in rows} == {"shop-backend"}
    assert {"/".join(r["destination"].split("/")[:2]) for r in rows} <= {"shop-backend/api-1", "shop-backend/api-2"}
    assert {r["port"] for r in rows} == {"8080"}
    run = read_run(out)
    assert run["namespaces"] == ["shop-backend"]


def test_dry_run_prints_every_object_and_creates_nothing(enforce_lab, tmp_path):
    p = enforce_lab.kr("sweep", "--kubeconfig", enforce_lab.kubeconfig, "-A", "--dry-run", "--source-mode", "pod")
    assert p.returncode == 0, p.stderr
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("ConfigMap") == 3 and kinds.count("Pod") == 8
    assert enforce_lab.kubereach_objects() == []


def test_two_concurrent_sweeps_do_not_disturb_each_other(enforce_lab, tmp_path):
    procs = [
        subprocess.Popen(
            [
                KUBEREACH,
                "sweep",
                "--kubeconfig",
                enforce_lab.kubeconfig,
                "-A",
                "-o",
                str(tmp_path / f"r{i}"),
                *FAST,
                "--from",
                "shop-frontend:",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, extra in enumerate([[], ["--source-mode", "pod"]])
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for i, p in enumerate(procs):
        assert p.returncode == 0, outs[i]
        rows = read_rows(tmp_path / f"r{i}")
        assert rows and all(r["verdict"] == "ok" for r in rows)
    ids = {read_run(tmp_path / f"r{i}")["sweep_id"] for i in range(2)}
    assert len(ids) == 2
    assert enforce_lab.kubereach_objects() == []


def test_cleanup_removes_leftovers_of_any_sweep(enforce_lab, tmp_path):
    leftovers = tmp_path / "left.yaml"
    leftovers.write_text("""
apiVersion: v1
kind: ConfigMap
metadata:
  name: kubereach-sweep-deadbeef
  namespace: shop-data
  labels: {app.kubernetes.io/managed-by: kubereach, kubereach.io/sweep-id: deadbeef}
---
apiVersion: v1
kind: Pod
metadata:
  name: kr-deadbeef-web-1-abcdef
  namespace: shop-frontend
  labels: {app: web, app.kubernetes.io/managed-by: kubereach, kubereach.io/sweep-id: deadbeef}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 60
  containers:
    - name: agent
      image: ghcr.io/kubereach/agent:0.1.0
      command: ["kubereach-probe", "run", "--spec", '{"kind":"KubereachProbeSpec","version":1,"id":"x","targets":[]}']
      securityContext: {runAsUser: 65532, runAsNonRoot: true}
""")
    enforce_lab.kubectl("create", "-f", str(leftovers))
    assert len(enforce_lab.kubereach_objects()) == 2
    p = enforce_lab.kr("cleanup", "--kubeconfig", enforce_lab.kubeconfig, "-A")
    assert p.returncode == 0, p.stderr
    assert "2 object(s) removed" in p.stdout
    assert enforce_lab.kubereach_objects() == []
    # the workloads are untouched
    assert "web-1" in enforce_lab.kubectl("get", "pods", "-n", "shop-frontend", "-o", "name")


def test_unknown_context_against_the_lab_kubeconfig_exits_2(enforce_lab, tmp_path):
    p = enforce_lab.kr("sweep", "--kubeconfig", enforce_lab.kubeconfig, "--context", "nope", "-o", str(tmp_path / "r"))
    assert p.returncode == 2 and "no context named 'nope'" in p.stderr


def test_a_wrong_token_is_a_clear_credentials_error_exit_2(enforce_lab, tmp_path):
    cfg = yaml.safe_load(Path(enforce_lab.kubeconfig).read_text())
    for u in cfg["users"]:
        u["user"] = {"token": "not-the-token"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    p = enforce_lab.kr("sweep", "--kubeconfig", str(bad), "-A", "-o", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert "401" in p.stderr and "Traceback" not in p.stderr


def test_predict_with_cluster_flags_reads_the_live_objects(enforce_lab):
    p = enforce_lab.kr("predict", "--kubeconfig", enforce_lab.kubeconfig, "-A", "-o", "csv")
    assert p.returncode == 0, p.stderr
    assert "context kubereach-lab" in p.stderr
    live = {tuple(line.split(",")[:5]) for line in p.stdout.splitlines()[1:]}
    files = enforce_lab.kr("predict", "-f", "manifests/demo", "-o", "csv")
    assert live == {tuple(line.split(",")[:5]) for line in files.stdout.splitlines()[1:]}


POSTGRES_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: postgres, namespace: shop-data}
spec:
  selector: {app: postgres}
  ports: [{port: 5432, targetPort: postgres, protocol: TCP}]
"""


def test_service_rows_are_judged_by_the_backends_policies(enforce_lab, tmp_path):
    svc = tmp_path / "svc.yaml"
    svc.write_text(POSTGRES_SERVICE)
    enforce_lab.kubectl("apply", "-f", str(svc))
    try:
        out = tmp_path / "r"
        p = enforce_lab.sweep(out, "-A", "--to", "app=postgres")
        rows = [r for r in read_rows(out) if r["scope"] == "service"]
        assert len(rows) == 8 and {r["destination"] for r in rows} == {"shop-data/postgres"}
        assert {r["expected"] for r in rows} == {"allow", "deny"}
        if all(r["state"] == "unreachable" for r in rows):
            pytest.skip("this lab does not route Service ClusterIPs yet (every service probe: network unreachable)")
        assert all(r["verdict"] == "ok" for r in rows), rows
        assert p.returncode == 0, p.stdout
    finally:
        enforce_lab.kubectl("delete", "-f", str(svc))


def self_signed_ca_pem() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-lab-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_an_untrusted_server_certificate_is_a_kubeconfig_error_exit_2(enforce_lab, tmp_path):
    import base64

    cfg = yaml.safe_load(Path(enforce_lab.kubeconfig).read_text())
    for c in cfg["clusters"]:
        c["cluster"]["certificate-authority-data"] = base64.b64encode(self_signed_ca_pem()).decode()
    bad = tmp_path / "bad-ca.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    p = enforce_lab.kr("sweep", "--kubeconfig", str(bad), "-A", "-o", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert "does not trust" in p.stderr and "certificate-authority" in p.stderr and "Traceback" not in p.stderr


def test_after_kill_9_agents_stop_at_their_deadline_and_cleanup_removes_the_rest(enforce_lab, tmp_path):
    # filtered probes with a 3 s timeout: each agent needs ~3 s, its deadline_s is ~8 s
    proc = subprocess.Popen(
        [
            KUBEREACH,
            "sweep",
            "--kubeconfig",
            enforce_lab.kubeconfig,
            "-n",
            "shop-frontend",
            "-o",
            str(tmp_path / "r"),
            "--port",
            "5432",
            "--timeout",
            "3",
            "--retries",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def agents():
        pods = json.loads(enforce_lab.kubectl("get", "pods", "-n", "shop-frontend", "-o", "json"))["items"]
        return {
            (p["metadata"]["name"], s["name"]): s["state"]
            for p in pods
            for s in p["status"].get("ephemeralContainerStatuses") or []
        }

    try:
        before = set(agents())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not set(agents()) - before:
            time.sleep(0.2)
        mine = set(agents()) - before
        assert mine, "no agent started"
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = enforce_lab.kubereach_objects()
    assert any(o.startswith("ConfigMap shop-frontend/kubereach-sweep-") for o in leftovers)
    stop = time.monotonic() + 30
    while time.monotonic() < stop and not all("terminated" in agents()[k] for k in mine):
        time.sleep(0.5)
    assert all("terminated" in agents()[k] for k in mine), {k: agents()[k] for k in mine}
    p = enforce_lab.kr("cleanup", "--kubeconfig", enforce_lab.kubeconfig, "-n", "shop-frontend")
    assert p.returncode == 0, p.stderr
    assert enforce_lab.kubereach_objects() == []


def test_a_sweep_deadline_cuts_slow_agents_and_exits_3(enforce_lab, tmp_path):
    out = tmp_path / "r"
    started = time.monotonic()
    p = enforce_lab.kr(
        "sweep",
        "--kubeconfig",
        enforce_lab.kubeconfig,
        "-n",
        "shop-frontend",
        "-o",
        str(out),
        "--port",
        "5432",
        "--timeout",
        "30",
        "--retries",
        "0",
        "--deadline",
        "4",
    )
    assert time.monotonic() - started < 30
    assert p.returncode == 3, p.stdout + p.stderr
    rows = read_rows(out)
    assert rows and all(r["verdict"] == "inconclusive" for r in rows)
    assert enforce_lab.kubereach_objects() == []
