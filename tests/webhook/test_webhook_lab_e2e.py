"""End to end in the lab: kubectl apply -> webhook over HTTPS -> init container -> rules -> sweep.

The lab (`kubereach lab up`), `kubereach webhook serve` and `kubereach sweep` all run
for real, as separate processes; kubectl is the real kubectl. The webhook
configurations use ``clientConfig.url`` on 127.0.0.1 with the caBundle printed by
`kubereach webhook certs --ip 127.0.0.1`.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from aiohttp import web

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KUBEREACH, KUBECTL = str(BIN / "kubereach"), str(BIN / "kubectl")
AGENT = "ghcr.io/kubereach/agent:0.1.0"
DEMO = REPO / "manifests" / "demo"
OPT_IN = "intrapod.kubereach.io/enforce"


def demo_annotated_pod() -> tuple[Path, dict]:
    for f in sorted(DEMO.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if (doc or {}).get("kind") == "Pod" and "intrapod.kubereach.io/rules" in (
                (doc.get("metadata") or {}).get("annotations") or {}
            ):
                return f, doc
    pytest.skip("manifests/demo has no pod with intrapod.kubereach.io/rules")


class Lab:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        self.env.update(HOME=str(tmp / "home"), KUBECONFIG=str(self.state / "kubeconfig"))

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, input=stdin, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {r.stderr}")
        return r

    def sweep(self, namespace: str, out: Path) -> tuple[int, list[dict]]:
        r = subprocess.run(
            [KUBEREACH, "sweep", "-n", namespace, "-o", str(out), "--timeout", "1"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        assert (out / "probes.csv").exists(), r.stderr
        with open(out / "probes.csv", newline="") as fh:
            return r.returncode, list(csv.DictReader(fh))

    def opted_in_namespace(self, name: str) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {OPT_IN: "true"}}}
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(ns))

    def wait_running(self, namespace: str, name: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            pod = json.loads(self.kubectl("-n", namespace, "get", "pod", name, "-o", "json").stdout)
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Running":
                return pod
            assert phase not in ("Failed", "Succeeded"), json.dumps(pod.get("status"), indent=1)
            assert time.monotonic() < deadline, f"{namespace}/{name} not Running: {phase}"
            time.sleep(0.3)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    tmp = tmp_path_factory.mktemp("krwh-lab")
    lab = Lab(tmp)
    (tmp / "home").mkdir()
    r = subprocess.run(
        [KUBEREACH, "lab", "up", "--state-dir", str(lab.state), "--timeout", "60"],
        capture_output=True,
        text=True,
        env=lab.env,
        timeout=180,
    )
    if r.returncode != 0:
        subprocess.run(
            [KUBEREACH, "lab", "down", "--state-dir", str(lab.state)], env=lab.env, capture_output=True, timeout=180
        )
        pytest.fail(f"kubereach lab up failed: {r.stderr}")
    try:
        yield lab
    finally:
        subprocess.run(
            [KUBEREACH, "lab", "down", "--state-dir", str(lab.state)], env=lab.env, capture_output=True, timeout=180
        )


@pytest.fixture(scope="module")
def webhook(lab):
    """`kubereach webhook serve` on 127.0.0.1 and both configurations applied with url + caBundle."""
    certs = lab.tmp / "certs"
    r = subprocess.run(
        [
            KUBEREACH,
            "webhook",
            "certs",
            "--service",
            "kubereach-webhook",
            "-n",
            "kubereach-system",
            "--ip",
            "127.0.0.1",
            "--out",
            str(certs),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    bundle = r.stdout.strip()
    proc = subprocess.Popen(
        [
            KUBEREACH,
            "webhook",
            "serve",
            "--cert",
            str(certs / "tls.crt"),
            "--key",
            str(certs / "tls.key"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--agent-image",
            AGENT,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    try:
        m = re.search(r"https://127\.0\.0\.1:(\d+)", proc.stderr.readline())
        assert m, "webhook did not start"
        threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
        port = int(m.group(1))
        lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(configurations(port, bundle)))
        yield {"port": port, "bundle": bundle, "certs": certs, "log": log}
    finally:
        lab.kubectl(
            "delete",
            "mutatingwebhookconfiguration,validatingwebhookconfiguration",
            "-l",
            "app.kubernetes.io/part-of=kubereach-test",
            check=False,
        )
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_shipped_manifests_the_lab_serves_apply_as_is(lab, tmp_path):
    """A server-side dry run with strict field validation of the shipped objects (the lab
    serves no Deployment or PodDisruptionBudget: test_webhook_manifests checks those; a
    client-side dry run validates nothing without the server)."""
    names = (
        "namespace.yaml",
        "serviceaccount.yaml",
        "service.yaml",
        "mutating-webhook.yaml",
        "validating-webhook.yaml",
    )
    files = [REPO / "manifests" / "webhook" / f for f in names]

    def dry(*paths: Path) -> subprocess.CompletedProcess:
        return lab.kubectl(
            "apply", "--dry-run=server", "--validate=strict", *(a for f in paths for a in ("-f", str(f))), check=False
        )

    lab.kubectl("apply", "-f", str(files[0]))  # a server dry run needs the namespace to exist
    try:
        r = dry(*files)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("(server dry run)") == len(files), r.stdout
        # and the check is real: a misspelt field is refused
        typo = tmp_path / "typo.yaml"
        typo.write_text(
            (REPO / "manifests" / "webhook" / "service.yaml").read_text().replace("targetPort:", "targetPrt:")
        )
        r = dry(typo)
        assert r.returncode != 0 and "targetPrt" in r.stderr, r.stdout + r.stderr
    finally:
        lab.kubectl("delete", "-f", str(files[0]), "--wait=false", check=False)


def configurations(port: int, bundle: str, *, failure: str = "Fail") -> list[dict]:
    """The shipped manifests/webhook configurations, pointed at 127.0.0.1 by url."""
    out = []
    for name, path in (("mutating-webhook.yaml", "/mutate"), ("validating-webhook.yaml", "/validate")):
        (cfg,) = [d for d in yaml.safe_load_all((REPO / "manifests" / "webhook" / name).read_text()) if d]
        cfg["metadata"]["labels"]["app.kubernetes.io/part-of"] = "kubereach-test"
        for hook in cfg["webhooks"]:
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle}
            hook["failurePolicy"] = failure
        out.append(cfg)
    return out


def readmission_patch(webhook: dict, pod: dict) -> str | None:
    """POST the pod to the running webhook's /mutate over HTTPS; the patch it answers."""
    import urllib.request
    import uuid

    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"],
            "operation": "CREATE",
            "object": pod,
        },
    }
    ctx = ssl.create_default_context(cafile=str(webhook["certs"] / "ca.crt"))
    req = urllib.request.Request(
        f"https://127.0.0.1:{webhook['port']}/mutate",
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        resp = json.loads(r.read())["response"]
    assert resp["uid"] == review["request"]["uid"] and resp["allowed"] is True
    return resp.get("patch")


def intra_rows(rows: list[dict], pod: str) -> list[dict]:
    return [r for r in rows if r["scope"] == "intra-pod" and r["source"].startswith(pod + "/")]


def test_demo_pod_is_enforced_through_the_webhook_and_unenforced_without_it(lab, webhook, tmp_path):
    path, pod = demo_annotated_pod()
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    for f in sorted(DEMO.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "Namespace"]
        if docs:
            lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    lab.kubectl("label", "namespace", ns, f"{OPT_IN}=true", "--overwrite")
    lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    live = lab.wait_running(ns, name)

    # 1. The webhook injected the init container first, and it ran to completion.
    assert live["spec"]["initContainers"][0]["name"] == "kubereach-intrapod"
    assert live["metadata"]["annotations"]["intrapod.kubereach.io/injected"].startswith("sha256:")
    (status,) = [s for s in live["status"]["initContainerStatuses"] if s["name"] == "kubereach-intrapod"]
    assert status["state"]["terminated"]["exitCode"] == 0
    logs = lab.kubectl("-n", ns, "logs", name, "-c", "kubereach-intrapod").stdout
    assert "intrapod rules applied" in logs
    # Re-admitting the pod as the API server stored it (defaults filled in) adds nothing.
    assert readmission_patch(webhook, live) is None

    # 2. The sweep measures every intra-pod pair as declared.
    rc, rows = lab.sweep(ns, tmp_path / "enforced")
    mine = intra_rows(rows, f"{ns}/{name}")
    assert mine and all(r["verdict"] == "ok" for r in mine), mine
    denied = {(r["source"], r["destination"], r["port"]) for r in mine if r["expected"] == "deny"}
    assert denied, "the demo's rules deny nothing?"

    # 3. The same pod admitted without the webhook (namespace no longer opted in):
    #    every denied pair is reachable, and the sweep says so.
    lab.kubectl("label", "namespace", ns, f"{OPT_IN}-")
    lab.kubectl("-n", ns, "delete", "pod", name, "--wait=true")
    lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    live = lab.wait_running(ns, name)
    assert not live["spec"].get("initContainers")
    rc, rows = lab.sweep(ns, tmp_path / "unenforced")
    mine = intra_rows(rows, f"{ns}/{name}")
    assert rc == 1
    leaks = {(r["source"], r["destination"], r["port"]) for r in mine if r["verdict"] == "unexpected-allow"}
    assert leaks == denied
    assert all(r["verdict"] == "ok" for r in mine if r["expected"] == "allow")
    lab.kubectl("-n", ns, "delete", "pod", name, "--wait=true")


def bad_pod(ns: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "shared-uid",
            "namespace": ns,
            "annotations": {
                "intrapod.kubereach.io/rules": "default: deny\nrules:\n- {from: a, to: nosuch, action: allow}\n"
            },
        },
        "spec": {
            "securityContext": {"runAsUser": 1000},
            "containers": [
                {"name": "a", "image": "busybox", "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "busybox"},
            ],
        },
    }


def test_kubectl_apply_of_unenforceable_rules_is_denied_with_every_problem(lab, webhook):
    lab.opted_in_namespace("krwh-denied")
    try:
        r = lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(bad_pod("krwh-denied")), check=False)
        assert r.returncode != 0
        assert 'admission webhook "inject.intrapod.kubereach.io" denied the request' in r.stderr
        assert "no container named 'nosuch'" in r.stderr and "share UID 1000" in r.stderr
        assert lab.kubectl("-n", "krwh-denied", "get", "pod", "shared-uid", check=False).returncode != 0
    finally:
        lab.kubectl("delete", "namespace", "krwh-denied", "--wait=false", check=False)


MESH_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "meshed",
        "labels": {"app": "meshed"},
        "annotations": {
            "intrapod.kubereach.io/rules": (
                "default: allow\nrules:\n- {from: sidecar, to: app, ports: [8080], action: deny}\n"
            )
        },
    },
    "spec": {
        "initContainers": [
            {
                # a mesh-like init container: redirect 7777 to the sidecar's 15000
                "name": "mesh-init",
                "image": AGENT,
                "command": [
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "-p",
                    "tcp",
                    "--dport",
                    "7777",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    "15000",
                ],
                "securityContext": {"runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}},
            }
        ],
        "containers": [
            {
                "name": "app",
                "image": "nginx",
                "ports": [{"containerPort": 8080}],
                "securityContext": {"runAsUser": 1000},
            },
            {
                "name": "sidecar",
                "image": "envoy",
                "ports": [{"containerPort": 15000}],
                "securityContext": {"runAsUser": 1001},
            },
        ],
    },
}


def mesh_injector(bundle_dir: Path):
    """A second mutating webhook, called after kubereach's (its configuration name sorts
    later), that puts its mesh init container FIRST, ahead of kubereach-intrapod."""

    async def mutate(request: web.Request) -> web.Response:
        review = await request.json()
        pod = review["request"]["object"]
        patch = []
        if (pod["metadata"].get("labels") or {}).get("mesh") == "inject":
            patch = [{"op": "add", "path": "/spec/initContainers/0", "value": MESH_POD["spec"]["initContainers"][0]}]
        resp = {"uid": review["request"]["uid"], "allowed": True}
        if patch:
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})

    app = web.Application()
    app.router.add_post("/mesh", mutate)
    return app


@pytest.fixture
def mesh_webhook(lab, webhook):
    import asyncio

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(webhook["certs"] / "tls.crt", webhook["certs"] / "tls.key")
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(mesh_injector(webhook["certs"]))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    cfg = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "zz-mesh-injector", "labels": {"app.kubernetes.io/part-of": "kubereach-test"}},
        "webhooks": [
            {
                "name": "inject.mesh.example.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "clientConfig": {"url": f"https://127.0.0.1:{port}/mesh", "caBundle": webhook["bundle"]},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            }
        ],
    }
    lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(cfg))
    try:
        yield
    finally:
        lab.kubectl("delete", "mutatingwebhookconfiguration", "zz-mesh-injector", check=False)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("order", ["kubereach-first", "mesh-first"])
def test_a_mesh_nat_init_container_coexists_in_either_order(lab, webhook, mesh_webhook, order, tmp_path):
    ns = f"krwh-mesh-{order.split('-')[0]}"
    lab.opted_in_namespace(ns)
    try:
        pod = json.loads(json.dumps(MESH_POD))
        pod["metadata"]["namespace"] = ns
        if order == "mesh-first":
            # the mesh's own webhook adds its init container after kubereach's ran, at index 0
            del pod["spec"]["initContainers"]
            pod["metadata"]["labels"]["mesh"] = "inject"
        lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
        live = lab.wait_running(ns, "meshed")
        names = [c["name"] for c in live["spec"]["initContainers"]]
        assert names == (
            ["kubereach-intrapod", "mesh-init"] if order == "kubereach-first" else ["mesh-init", "kubereach-intrapod"]
        )
        codes = {s["name"]: s["state"]["terminated"]["exitCode"] for s in live["status"]["initContainerStatuses"]}
        assert codes == {"kubereach-intrapod": 0, "mesh-init": 0}

        rc, rows = lab.sweep(ns, tmp_path / "sweep")
        mine = intra_rows(rows, f"{ns}/meshed")
        assert mine and all(r["verdict"] == "ok" for r in mine), mine
        assert {(r["source"].rsplit("/", 1)[1], r["port"], r["expected"]) for r in mine} == {
            ("sidecar", "8080", "deny"),
            ("app", "15000", "allow"),
        }

        # The redirect still works: from inside the pod, 7777 lands on the sidecar's listener.
        scan = debug_scan(lab, ns, "meshed", 7777)
        if scan is not None:
            assert scan["state"] == "open", scan
            assert (scan["identity"]["container"], scan["identity"]["port"]) == ("sidecar", 15000)
    finally:
        lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def debug_scan(lab: Lab, ns: str, pod: str, port: int) -> dict | None:
    """`kubectl debug` an agent ephemeral container that scans 127.0.0.1:PORT; None if unsupported."""
    r = lab.kubectl(
        "-n",
        ns,
        "debug",
        pod,
        "--image",
        AGENT,
        "--container",
        "scan",
        "--profile",
        "general",
        "--",
        "kubereach-probe",
        "scan",
        "127.0.0.1",
        "-p",
        str(port),
        "-o",
        "json",
        check=False,
    )
    if r.returncode != 0:
        return None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = lab.kubectl("-n", ns, "logs", pod, "-c", "scan", check=False).stdout
        start = out.find("{")
        if start >= 0:
            try:
                doc = json.loads(out[start:])
            except ValueError:
                pass  # not complete yet
            else:
                return doc["results"][0]
        time.sleep(0.3)
    raise AssertionError(f"no scan result from the debug container: {out!r}")


def test_kubectl_prints_the_webhooks_warnings_and_denies_a_native_sidecar_with_net_admin(lab, webhook):
    """Warnings travel as a real API server passes them: the AdmissionReview's `warnings`,
    then `Warning:` headers that kubectl prints; a blocking finding denies the pod."""
    ns = "krwh-warnings"
    lab.opted_in_namespace(ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "meshed",
            "namespace": ns,
            "annotations": {"intrapod.kubereach.io/rules": "rules: [{from: b, to: a, action: deny}]"},
        },
        "spec": {
            "initContainers": [
                # a mesh's init container: NET_ADMIN, runs once, before the containers
                {"name": "mesh-init", "image": "mesh", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}
            ],
            "containers": [
                {
                    "name": "a",
                    "image": "busybox",
                    "ports": [{"containerPort": 80}],
                    "securityContext": {"runAsUser": 1000},
                },
                {"name": "b", "image": "busybox", "securityContext": {"runAsUser": 1001}},
            ],
        },
    }
    r = lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    assert "Warning: init-net-admin: init container 'mesh-init' has NET_ADMIN" in r.stderr, r.stderr
    live = lab.wait_running(ns, "meshed")
    assert [c["name"] for c in live["spec"]["initContainers"]] == ["kubereach-intrapod", "mesh-init"]

    sidecar = json.loads(json.dumps(pod))
    sidecar["metadata"]["name"] = "sidecar-net-admin"
    sidecar["spec"]["initContainers"] = [
        {
            "name": "proxy",
            "image": "envoy",
            "restartPolicy": "Always",
            "securityContext": {"runAsUser": 1002, "capabilities": {"add": ["NET_ADMIN"]}},
        }
    ]
    r = lab.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(sidecar), check=False)
    assert r.returncode != 0
    assert "net-admin: native sidecar 'proxy' has NET_ADMIN: it can remove the rules" in r.stderr, r.stderr
    lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_the_largest_annotation_the_api_server_accepts_starts_with_its_rules(lab, webhook):
    """The issue's finding: a rule list over 128 KiB used to be passed as one argument and
    the pod never left Init. Now the config reaches the init container by a file, so a
    pod whose annotations are exactly at the API server's 256 KiB (after the webhook added
    its own) runs; `kubectl create`, since `apply` would double them in last-applied."""
    from test_webhook_findings import big_pod, big_rules, mutate
    from webhook_helpers import patched

    from webhook.admission import MAX_ANNOTATIONS_BYTES, annotations_bytes

    probe = big_pod(big_rules(4000))
    room = MAX_ANNOTATIONS_BYTES - annotations_bytes(
        patched(probe, {"response": mutate(probe)})["metadata"]["annotations"]
    )
    pod = big_pod(big_rules(4000, padding=room))
    ns = "krwh-largest"
    lab.opted_in_namespace(ns)
    pod["metadata"].update(name="largest", namespace=ns)
    lab.kubectl("create", "-f", "-", stdin=json.dumps(pod))
    live = lab.wait_running(ns, "largest", timeout=120)
    assert annotations_bytes(live["metadata"]["annotations"]) == MAX_ANNOTATIONS_BYTES
    (status,) = [s for s in live["status"]["initContainerStatuses"] if s["name"] == "kubereach-intrapod"]
    assert status["state"]["terminated"]["exitCode"] == 0
    logs = lab.kubectl("-n", ns, "logs", "largest", "-c", "kubereach-intrapod").stdout
    assert "intrapod rules applied (100 rule(s) per family" in logs
    lab.kubectl("delete", "namespace", ns, "--wait=false", check=False)
