"""One truth for intra-pod enforceability: predict, the sweep and the webhook report the same findings.

The same pods (one per finding, and two that have none) go through the three paths a
user meets: ``kubereach predict -o json`` (the findings list), ``kubereach sweep`` (its
run.json and summary; simulated, since the sweep's findings come from the snapshot and
the plan, not from probing) and a real ``kubereach webhook serve`` over HTTPS (the
denial's problems and the warnings). They must agree finding by finding, message by
message; and the webhook must deny exactly the pods with a blocking finding.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from webhook_helpers import client_context, make_review, post, serve_webhook

from orchestrator.cli import main

RULES = "default: deny"


def pod(name: str, *containers: dict, init: tuple[dict, ...] = (), ip: int, **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": name},
            "annotations": {"intrapod.kubereach.io/rules": RULES},
        },
        "spec": {"containers": list(containers), **({"initContainers": list(init)} if init else {}), **spec},
        "status": {"phase": "Running", "podIP": f"10.0.0.{ip}"},
    }


def c(name: str, uid: int | None, *ports: int, **security) -> dict:
    sc = {**({"runAsUser": uid} if uid is not None else {}), **security}
    return {"name": name, "image": "x", "securityContext": sc, "ports": [{"containerPort": p} for p in ports]}


def sidecar(name: str, uid: int | None, **security) -> dict:
    return {**c(name, uid, **security), "restartPolicy": "Always"}


APP, SIDE = c("app", 1001, 8080), c("side", 1002)
PODS = [
    pod("clean", APP, SIDE, ip=1),
    pod("no-uid", c("app", None, 8080), SIDE, ip=2),
    pod("root", c("app", 0, 8080), SIDE, ip=3),
    pod(
        "inherited-uid", c("app", None, 8080), init=(sidecar("proxy", None),), ip=4, securityContext={"runAsUser": 1002}
    ),
    pod("all-caps", APP, c("side", 1002, capabilities={"add": ["ALL"]}), ip=5),
    pod("all-but-net-admin", APP, c("side", 1002, capabilities={"add": ["ALL"], "drop": ["NET_ADMIN"]}), ip=6),
    pod("privileged-sidecar", APP, SIDE, init=(sidecar("proxy", 1003, privileged=True),), ip=7),
    pod("shared-port", APP, c("side", 1002, 8080), ip=8),
    pod(
        "mesh-init",
        APP,
        SIDE,
        init=({"name": "mesh-init", "image": "m", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}},),
        ip=9,
    ),
    pod("host-network", APP, SIDE, ip=10, hostNetwork=True),
]
EXPECTED_CODES = {
    "shop/no-uid": ["no-runAsUser"],
    "shop/root": ["root-uid"],
    "shop/inherited-uid": ["shared-uid"],
    "shop/all-caps": ["net-admin"],
    "shop/privileged-sidecar": ["privileged"],
    "shop/shared-port": ["shared-port"],
    "shop/mesh-init": ["init-net-admin"],
    "shop/host-network": ["host-network"],
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path = tmp_path_factory.mktemp("one-truth") / "pods.yaml"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    path.write_text(yaml.safe_dump_all([ns, *PODS]))
    return path


def as_set(findings: list[dict]) -> set[tuple[str, str, str, bool]]:
    return {(f["pod"], f["code"], f["message"], f["blocking"]) for f in findings}


def predict_findings(manifest, capsys) -> set:
    assert main(["predict", "-f", str(manifest), "-o", "json"]) == 0
    return as_set(json.loads(capsys.readouterr().out)["findings"])


def sweep_findings(manifest, tmp_path, capsys) -> tuple[set, str]:
    out = tmp_path / "sweep"
    main(["sweep", "--simulate-from", str(manifest), "-o", str(out)])
    summary = capsys.readouterr().out
    run = json.loads((out / "run.json").read_text())
    return as_set(run["intrapod_findings"]), summary


_PROBLEM = re.compile(r"^\s+\d+\. ([a-zA-Z-]+): (.*)$")


def webhook_findings(port, ctx) -> tuple[set, set[str]]:
    found, denied = set(), set()
    for p in PODS:
        status, body = post(port, "/mutate", json.dumps(make_review(p)).encode(), ctx)
        assert status == 200, body
        resp = json.loads(body)["response"]
        key = f"shop/{p['metadata']['name']}"
        for w in resp.get("warnings", ()):
            code, _, message = w.partition(": ")
            found.add((key, code, message, False))
        if not resp["allowed"]:
            denied.add(key)
            for line in resp["status"]["message"].splitlines()[1:]:
                code, message = _PROBLEM.match(line).groups()
                found.add((key, code, message, True))
    return found, denied


def test_predict_the_sweep_and_the_webhook_report_identical_findings(manifest, tmp_path, capsys, cert_dir):
    predicted = predict_findings(manifest, capsys)
    swept, summary = sweep_findings(manifest, tmp_path, capsys)
    with serve_webhook(cert_dir) as (_, port):
        admitted, denied = webhook_findings(port, client_context(cert_dir))

    codes: dict[str, list[str]] = {}
    for pod_key, code, _, _ in sorted(predicted):
        codes.setdefault(pod_key, []).append(code)
    assert codes == EXPECTED_CODES
    assert swept == predicted
    assert admitted == predicted
    # the webhook denies exactly the pods with a blocking finding, and admits the others
    assert denied == {k for k, _, _, blocking in predicted if blocking}
    assert (
        "shop/inherited-uid",
        "shared-uid",
        "container 'app', native sidecar 'proxy' share UID 1002: rules cannot tell them apart",
        True,
    ) in predicted
    # the summary shows them too
    for pod_key, code, message, _ in predicted:
        assert f"{pod_key}: {message} [{code}" in summary
