"""The sweep CLI against a scripted API server over real HTTP, as a user meets it:
RBAC refusal, 5xx retried, a hanging server cut by --request-timeout, and no -n
meaning the context's namespace."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from sweep_scripted_api import ScriptedApi, status

KUBEREACH = os.path.join(os.path.dirname(sys.executable), "kubereach")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kubeconfig(path, server: str, namespace: str = "shop"):
    path.write_text(f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{server}"}}}}]
users: [{{name: u, user: {{token: secret-token}}}}]
contexts: [{{name: lab, context: {{cluster: c, user: u, namespace: {namespace}}}}}]
current-context: lab
""")
    return str(path)


def kr(*args, timeout=90):
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run([KUBEREACH, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture
def scripted():
    servers = []

    def start(answer):
        s = ScriptedApi(answer)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def test_no_namespace_flag_sweeps_the_contexts_namespace_only(scripted, tmp_path):
    api = scripted(lambda method, path: None)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}", namespace="shop")
    p = kr("sweep", "--kubeconfig", cfg, "-o", str(tmp_path / "r"))
    assert "Traceback" not in p.stderr
    assert p.returncode == 3, p.stderr  # nothing to probe is never a pass
    assert "in shop (context lab)" in p.stderr
    paths = {path for _, path in api.requests}
    assert "/api/v1/namespaces/shop/pods" in paths
    assert all("/namespaces/shop" in path for path in paths), paths
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["namespaces"] == ["shop"] and run["context"] == "lab"


def test_rbac_refusal_exits_2_naming_verb_resource_and_the_manifest(scripted, tmp_path):
    def answer(method, path):
        if path == "/api/v1/namespaces/shop/pods":
            return status(
                403,
                "Forbidden",
                'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "shop"',
            )
        return None

    api = scripted(answer)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}")
    p = kr("sweep", "--kubeconfig", cfg, "-n", "shop", "-o", str(tmp_path / "r"))
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "cannot list pods" in p.stderr and "manifests/rbac.yaml" in p.stderr
    assert p.stdout == ""
    assert not (tmp_path / "r").exists()


def test_5xx_and_429_are_retried_and_the_sweep_goes_on(scripted, tmp_path):
    failures = {
        "/api/v1/namespaces/shop/pods": [status(503, "ServiceUnavailable", "etcd is restarting")],
        "/api/v1/namespaces/shop/services": [status(429, "TooManyRequests", "slow down")],
    }

    def answer(method, path):
        queue = failures.get(path)
        return queue.pop(0) if queue else None

    api = scripted(answer)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}")
    p = kr("sweep", "--kubeconfig", cfg, "-n", "shop", "-o", str(tmp_path / "r"))
    assert "Traceback" not in p.stderr
    assert p.returncode == 3, p.stderr  # empty namespace: nothing measured
    assert api.requests.count(("GET", "/api/v1/namespaces/shop/pods")) == 2
    assert api.requests.count(("GET", "/api/v1/namespaces/shop/services")) == 2
    log = json.loads((tmp_path / "r" / "run.json").read_text())["api_calls"]["log"]
    assert [c["status"] for c in log if c["resource"] == "pods"] == [503, 200]
    assert [c["status"] for c in log if c["resource"] == "services"] == [429, 200]


def test_a_hanging_api_server_is_cut_by_request_timeout_and_exits_3(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (the kernel does), never answers
    try:
        cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{listener.getsockname()[1]}")
        started = time.monotonic()
        p = kr("sweep", "--kubeconfig", cfg, "-A", "--request-timeout", "1s", "-o", str(tmp_path / "r"))
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert p.returncode == 3, p.stderr
    assert "cannot reach the API server" in p.stderr and "Traceback" not in p.stderr
    # 3 attempts of 1 s plus backoff and start-up; the default 30 s per request would take 90 s.
    assert elapsed < 40, elapsed


FORBID = 'is forbidden: User "bob" cannot {verb} resource "{res}" in API group ""'


def forbidden(verb: str, res: str):
    return status(403, "Forbidden", f"{res} {FORBID.format(verb=verb, res=res)}")


def managed(kind: str, ns: str, name: str) -> dict:
    labels = {"app.kubernetes.io/managed-by": "kubereach", "kubereach.io/sweep-id": "deadbeef"}
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}}


def listing(kind: str, *items) -> tuple[int, dict]:
    return 200, {"kind": f"{kind}List", "metadata": {"resourceVersion": "5"}, "items": list(items)}


def test_cleanup_without_n_goes_namespace_by_namespace_when_cluster_wide_lists_are_refused(scripted, tmp_path):
    """RBAC grants listing namespaces and per-namespace work in `a`, nothing in `b`: `a` is
    cleaned, `b` is named with what could not be known, and the exit status is 2."""

    def answer(method, path):
        if path in ("/api/v1/pods", "/api/v1/configmaps"):
            return forbidden("list", path.rsplit("/", 1)[1])
        if path == "/api/v1/namespaces":
            return listing("Namespace", {"metadata": {"name": "a"}}, {"metadata": {"name": "b"}})
        if path == "/api/v1/namespaces/a/pods":
            return listing("Pod", managed("Pod", "a", "kr-deadbeef-web"))
        if path == "/api/v1/namespaces/a/configmaps":
            return listing("ConfigMap", managed("ConfigMap", "a", "kubereach-sweep-deadbeef"))
        if path.startswith("/api/v1/namespaces/b/"):
            return forbidden("list", path.rsplit("/", 1)[1])
        if method == "DELETE":
            return 200, {"kind": "Status", "status": "Success"}
        return None

    api = scripted(answer)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}")
    p = kr("cleanup", "--kubeconfig", cfg)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    assert "deleted pod a/kr-deadbeef-web" in p.stdout and "deleted configmap a/kubereach-sweep-deadbeef" in p.stdout
    assert "2 object(s) removed in 2 namespaces" in p.stdout
    assert "namespace b: whatever kubereach left there remains (it could not be listed)" in p.stderr
    assert "cannot list pods" in p.stderr and "manifests/rbac.yaml" in p.stderr
    assert "RBAC refused cleanup in 1 namespace(s): b (exit 2)" in p.stderr
    deletes = [path for method, path in api.requests if method == "DELETE"]
    assert deletes == [
        "/api/v1/namespaces/a/pods/kr-deadbeef-web",
        "/api/v1/namespaces/a/configmaps/kubereach-sweep-deadbeef",
    ]


def test_cleanup_without_n_falls_back_to_the_contexts_namespace_and_says_so(scripted, tmp_path):
    def answer(method, path):
        if path in ("/api/v1/pods", "/api/v1/configmaps", "/api/v1/namespaces"):
            return forbidden("list", path.rsplit("/", 1)[1])
        if path == "/api/v1/namespaces/shop/configmaps":
            return listing("ConfigMap", managed("ConfigMap", "shop", "kubereach-sweep-deadbeef"))
        return None

    api = scripted(answer)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}", namespace="shop")
    p = kr("cleanup", "--kubeconfig", cfg)
    assert p.returncode == 0, p.stderr
    assert "only the context's namespace shop was cleaned (pass -n NS for others)" in p.stderr
    assert "1 object(s) removed in namespace shop" in p.stdout
    # -A is an explicit "all": that RBAC cannot give it is the user's to fix
    p = kr("cleanup", "--kubeconfig", cfg, "-A")
    assert p.returncode == 2 and "-A needs listing pods and ConfigMaps in all namespaces" in p.stderr


def test_cleanup_names_what_is_left_where_rbac_refuses_the_delete(scripted, tmp_path):
    def answer(method, path):
        if path == "/api/v1/pods":
            return listing("Pod", managed("Pod", "x", "kr-deadbeef-a"))
        if method == "DELETE" and path.startswith("/api/v1/namespaces/x/pods/"):
            return forbidden("delete", "pods")
        return None

    api = scripted(answer)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}")
    p = kr("cleanup", "--kubeconfig", cfg, "-A")
    assert p.returncode == 2, p.stderr
    assert "namespace x: left there: pod x/kr-deadbeef-a; RBAC refused: cannot delete pods" in p.stderr
    assert "0 object(s) removed in all namespaces" in p.stdout


def test_cleanup_with_n_touches_only_those_namespaces(scripted, tmp_path):
    api = scripted(lambda method, path: None)
    cfg = kubeconfig(tmp_path / "kc.yaml", f"http://127.0.0.1:{api.port}")
    p = kr("cleanup", "--kubeconfig", cfg, "-n", "a", "-n", "b")
    assert p.returncode == 0, p.stderr
    paths = sorted({path for _, path in api.requests})
    assert paths == [
        "/api/v1/namespaces/a/configmaps",
        "/api/v1/namespaces/a/pods",
        "/api/v1/namespaces/b/configmaps",
        "/api/v1/namespaces/b/pods",
    ]
    assert "0 object(s) removed in a, b" in p.stdout
