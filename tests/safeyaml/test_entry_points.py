"""One safe loader at every entry point that reads YAML someone else wrote: a test per entry point.

Each entry point gets the issue's 440-byte alias bomb and a document with a duplicate
key, the way its user meets it, and must answer with a clean error that names where
(file, document, pod, field), quickly and without quoting the input at length.

Entry points: ``predict -f FILE`` and ``-f -``, the rules annotation in ``predict``,
in the sweep's plan and in the webhook, ``lab up -f``, the lab API's YAML request
bodies, ``webhook certs --patch-config``, and the agent's ``--rules``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hostile_corpus import CORPUS

from orchestrator.cli import main

ALIAS_BOMB = str(CORPUS["alias-bomb"])
POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
  annotations:
    intrapod.kubereach.io/rules: {rules}
spec:
  containers:
    - {{name: app, securityContext: {{runAsUser: 1001}}, ports: [{{containerPort: 8080}}]}}
    - {{name: side, securityContext: {{runAsUser: 1002}}}}
status: {{phase: Running, podIP: 10.0.0.7}}
"""
DUPLICATE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nkind: Pod\n"


def run_cli(argv: list[str], capsys, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_file(tmp_path, capsys):
    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    code, _, err = run_cli(["predict", "-f", str(tmp_path / "bomb.yaml")], capsys)
    assert code == 2 and "bomb.yaml, document 1: invalid YAML at line" in err and "aliases multiply" in err
    assert len(err) < 600  # issue 10: the old message was unbounded
    (tmp_path / "dup.yaml").write_text(DUPLICATE)
    code, _, err = run_cli(["predict", "-f", str(tmp_path / "dup.yaml")], capsys)
    assert code == 2 and "duplicate key 'kind' (first at line 2)" in err


def test_predict_stdin(capsys, monkeypatch):
    code, _, err = run_cli(["predict", "-f", "-"], capsys, stdin=ALIAS_BOMB, monkeypatch=monkeypatch)
    assert code == 2 and "<stdin>, document 1" in err and len(err) < 600


def test_predict_rules_annotation(tmp_path, capsys):
    (tmp_path / "pod.yaml").write_text(POD.format(rules=json.dumps(ALIAS_BOMB)))
    code, _, err = run_cli(["predict", "-f", str(tmp_path / "pod.yaml")], capsys)
    assert code == 2
    assert "pod.yaml, document 1, Pod shop/api, field metadata.annotations[intrapod.kubereach.io/rules]" in err
    assert "aliases expand it by more than 10,000 nodes" in err and len(err) < 600


def test_sweep_plan_rules_annotation(tmp_path, capsys):
    (tmp_path / "pod.yaml").write_text(POD.format(rules=json.dumps("default: deny\ndefault: allow\n")))
    run_cli(["sweep", "--simulate-from", str(tmp_path / "pod.yaml"), "-o", str(tmp_path / "out")], capsys)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    (skip,) = [s for s in run["skipped"] if s["what"] == "shop/api" and "intra-pod" in s["reason"]]
    assert "intra-pod rules not probed" in skip["reason"] and "duplicate key 'default'" in skip["reason"]


def test_webhook_rules_annotation():
    from webhook.admission import Mode, Settings, review

    sys.path.insert(0, str(Path(__file__).parents[1] / "webhook"))
    from webhook_helpers import make_pod, make_review

    resp = review(make_review(make_pod(rules=ALIAS_BOMB)), Mode.MUTATE, Settings())["response"]
    assert resp["allowed"] is False
    assert "intrapod.kubereach.io/rules: invalid YAML at line" in resp["status"]["message"]


def test_lab_up_manifests(tmp_path):
    from lab.manifests import ManifestError, load

    (tmp_path / "bomb.yaml").write_text(ALIAS_BOMB)
    with pytest.raises(ManifestError, match=r"bomb.yaml#1: invalid YAML: line \d+, column \d+: too large"):
        load([tmp_path / "bomb.yaml"])
    (tmp_path / "bomb.yaml").write_text(DUPLICATE)
    with pytest.raises(ManifestError, match="duplicate key 'kind'"):
        load([tmp_path / "bomb.yaml"])


def test_lab_up_refuses_an_object_defined_twice_and_counts_kinds_it_does_not_serve(tmp_path):
    from lab.manifests import ManifestError, load, load_all

    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
    (tmp_path / "a.yaml").write_text(ns)
    (tmp_path / "b.yaml").write_text(ns)
    with pytest.raises(ManifestError, match=r"b.yaml#1: 'Namespace a' is also defined in .*a.yaml#1"):
        load([tmp_path])
    (tmp_path / "b.yaml").write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: d}\n")
    loaded = load_all([tmp_path])
    assert [m.obj["kind"] for m in loaded.manifests] == ["Namespace"]
    assert loaded.skipped == {"networking.k8s.io/v1 Ingress": 1}


def test_lab_api_yaml_request_bodies():
    from lab.api.errors import ApiError
    from lab.api.handlers import read_body

    async def handler(request: web.Request) -> web.Response:
        try:
            return web.json_response(await read_body(request))
        except ApiError as exc:
            return web.json_response({"code": exc.code, "message": exc.message}, status=exc.code)

    async def go() -> list[tuple[int, dict]]:
        app = web.Application()
        app.router.add_post("/", handler)
        async with TestClient(TestServer(app)) as client:
            out = []
            for text in (ALIAS_BOMB, DUPLICATE, "kind: Pod\nmetadata: {name: p}\n"):
                r = await client.post("/", data=text, headers={"Content-Type": "application/yaml"})
                out.append((r.status, await r.json()))
            return out

    (bomb, dup, ok) = asyncio.run(go())
    assert bomb[0] == 400 and "too large once its aliases are expanded" in bomb[1]["message"]
    assert dup[0] == 400 and "duplicate key 'kind'" in dup[1]["message"]
    assert ok == (200, {"kind": "Pod", "metadata": {"name": "p"}})


def test_webhook_certs_patch_config(tmp_path, capsys):
    config = tmp_path / "mutating.yaml"
    config.write_text(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n"
        "metadata: {name: m}\nmetadata: {name: n}\nwebhooks: []\n"
    )
    argv = ["webhook", "certs", "--service", "wh", "-n", "x", "--out", str(tmp_path / "c"), "--patch-config"]
    code, _, err = run_cli([*argv, str(config)], capsys)
    assert code == 2 and "mutating.yaml: not valid YAML" in err and "duplicate key 'metadata'" in err
    assert not (tmp_path / "c").exists()


def test_the_agents_rules_flag():
    from probe import cli as probe_cli

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = probe_cli.main(["intrapod", "render", "--rules", ALIAS_BOMB, "--uids", "a=1,b=2"])
    assert code == 2 and "rules: neither JSON nor YAML" in err.getvalue() and len(err.getvalue()) < 600
