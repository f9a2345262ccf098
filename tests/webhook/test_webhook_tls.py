"""`kubereach webhook certs` and `kubereach webhook serve`: real certificates, a real HTTPS round trip."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from webhook_helpers import decode_patch, init_config, make_pod, make_review, patched, post, serve_webhook

from orchestrator.cli import main
from orchestrator.errors import UsageError
from webhook.certs import patch_ca_bundle

REPO = Path(__file__).resolve().parents[2]
KUBEREACH = str(Path(sys.executable).with_name("kubereach"))


def test_certs_writes_ca_cert_and_private_key_with_the_service_names(cert_dir):
    assert (cert_dir / "tls.key").stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate((cert_dir / "tls.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "kubereach-webhook",
        "kubereach-webhook.kubereach-system",
        "kubereach-webhook.kubereach-system.svc",
        "kubereach-webhook.kubereach-system.svc.cluster.local",
        "localhost",
    ]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca = x509.load_pem_x509_certificate((cert_dir / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def test_certs_prints_the_ca_bundle(tmp_path, capsys):
    assert main(["webhook", "certs", "--service", "wh", "-n", "sys", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert base64.b64decode(printed) == (tmp_path / "ca.crt").read_bytes()


def test_certs_patches_the_bundle_into_the_shipped_webhook_configurations_keeping_comments(tmp_path, capsys):
    files = []
    for name in ("mutating-webhook.yaml", "validating-webhook.yaml"):
        shutil.copy(REPO / "manifests" / "webhook" / name, tmp_path / name)
        files += ["--patch-config", str(tmp_path / name)]
    out = tmp_path / "certs"
    assert (
        main(
            ["webhook", "certs", "--service", "kubereach-webhook", "-n", "kubereach-system", "--out", str(out), *files]
        )
        == 0
    )
    bundle = base64.b64encode((out / "ca.crt").read_bytes()).decode()
    for name in ("mutating-webhook.yaml", "validating-webhook.yaml"):
        text = (tmp_path / name).read_text()
        assert "failurePolicy" in text and "#" in text  # comments kept
        docs = [d for d in yaml.safe_load_all(text) if d]
        hooks = [h for d in docs for h in d.get("webhooks", [])]
        assert hooks and all(h["clientConfig"]["caBundle"] == bundle for h in hooks)


def test_patching_a_configuration_without_a_ca_bundle_field_names_the_webhook():
    text = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: m}
webhooks:
  - name: a.example.com
    clientConfig:
      url: https://x/mutate
"""
    with pytest.raises(UsageError, match=r"MutatingWebhookConfiguration m: field webhooks\[0\].clientConfig.caBundle"):
        patch_ca_bundle(text, "QUJD", source="m.yaml")


def test_certs_with_a_wrong_config_file_changes_nothing_on_disk(tmp_path, capsys):
    good = tmp_path / "mutating-webhook.yaml"
    shutil.copy(REPO / "manifests" / "webhook" / "mutating-webhook.yaml", good)
    before = good.read_text()
    wrong = tmp_path / "service.yaml"
    shutil.copy(REPO / "manifests" / "webhook" / "service.yaml", wrong)
    rc = main(
        [
            "webhook",
            "certs",
            "--service",
            "wh",
            "-n",
            "sys",
            "--out",
            str(tmp_path / "certs"),
            "--patch-config",
            str(good),
            "--patch-config",
            str(wrong),
        ]
    )
    assert rc == 2
    assert "no MutatingWebhookConfiguration or ValidatingWebhookConfiguration" in capsys.readouterr().err
    assert not (tmp_path / "certs").exists() and good.read_text() == before


def test_certs_rejects_a_bad_ip(tmp_path):
    assert main(["webhook", "certs", "--service", "wh", "-n", "sys", "--out", str(tmp_path), "--ip", "not-an-ip"]) == 2


@pytest.fixture
def server(cert_dir):
    """`kubereach webhook serve` in a subprocess on a free port of 127.0.0.1."""
    with serve_webhook(cert_dir) as (proc, port):
        yield proc, port


def test_https_round_trip_verified_against_the_generated_ca(server, cert_dir):
    proc, port = server
    ctx = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=10) as r:
        assert r.status == 200 and r.read() == b"ok\n"
    pod = make_pod()
    review = make_review(pod)
    status, body = post(port, "/mutate", json.dumps(review).encode(), ctx)
    assert status == 200
    answer = json.loads(body)
    assert answer["response"]["uid"] == review["request"]["uid"]
    final = patched(pod, answer)
    assert final["spec"]["initContainers"][0]["image"] == "ghcr.io/kubereach/agent:test"
    assert init_config(final)["rules"]["default"] == "allow"
    status, body = post(port, "/validate", json.dumps(make_review(final)).encode(), ctx)
    assert status == 200 and json.loads(body)["response"]["allowed"] is True
    status, body = post(port, "/validate", json.dumps(make_review(pod)).encode(), ctx)
    assert json.loads(body)["response"]["allowed"] is False
    assert decode_patch(json.loads(body)) == []


def test_malformed_review_is_http_400(server, cert_dir):
    _, port = server
    ctx = ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))
    assert post(port, "/mutate", b"{not json", ctx)[0] == 400
    assert post(port, "/mutate", b'{"kind": "Pod"}', ctx)[0] == 400
    assert post(port, "/mutate", b"", ctx)[0] == 400
    # JSON, but fields of the wrong type: the caller's error (400), never a 500
    weird = make_review(make_pod())
    weird["request"]["kind"] = "Pod"
    assert post(port, "/validate", json.dumps(weird).encode(), ctx)[0] == 400
    # an annotated pod with a field of the wrong type: denied, naming the field
    weird = make_review(make_pod())
    weird["request"]["object"]["spec"]["containers"][0]["securityContext"] = ["runAsUser", 1000]
    status, body = post(port, "/mutate", json.dumps(weird).encode(), ctx)
    resp = json.loads(body)["response"]
    assert status == 200 and resp["allowed"] is False
    assert "spec.containers[0].securityContext: expected a mapping" in resp["status"]["message"]


def test_a_client_trusting_another_ca_refuses_the_server(server, tmp_path):
    _, port = server
    assert main(["webhook", "certs", "--service", "other", "-n", "x", "--out", str(tmp_path)]) == 0
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with pytest.raises(urllib.error.URLError) as info:
        urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=10)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)


def test_sigterm_stops_the_server_cleanly(server):
    proc, _ = server
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_serve_with_a_missing_certificate_is_a_usage_error(tmp_path):
    r = subprocess.run(
        [
            KUBEREACH,
            "webhook",
            "serve",
            "--cert",
            str(tmp_path / "no.crt"),
            "--key",
            str(tmp_path / "no.key"),
            "--port",
            "0",
            "--host",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    assert r.returncode == 2
    assert "cannot load the serving certificate" in r.stderr


def test_webhook_group_is_registered_with_serve_and_certs(capsys):
    assert main(["webhook", "--help"]) == 0
    out = capsys.readouterr().out
    assert "serve" in out and "certs" in out


def test_server_picks_up_a_rotated_certificate_without_restarting(tmp_path):
    from webhook.admission import Settings
    from webhook.server import serve

    first, second, live = tmp_path / "one", tmp_path / "two", tmp_path / "live"
    for d in (first, second):
        assert main(["webhook", "certs", "--service", "wh", "-n", "sys", "--ip", "127.0.0.1", "--out", str(d)]) == 0
    live.mkdir()
    for f in ("tls.crt", "tls.key"):
        (live / f).write_bytes((first / f).read_bytes())

    async def health(port: int, ca_dir) -> bool:
        import aiohttp

        ctx = ssl.create_default_context(cafile=str(ca_dir / "ca.crt"))
        try:
            async with aiohttp.ClientSession() as s, s.get(f"https://127.0.0.1:{port}/healthz", ssl=ctx) as r:
                return r.status == 200
        except aiohttp.ClientConnectorCertificateError:
            return False

    async def go():
        stop, bound = asyncio.Event(), asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve(
                Settings(),
                host="127.0.0.1",
                port=0,
                cert_file=str(live / "tls.crt"),
                key_file=str(live / "tls.key"),
                stop=stop,
                reload_interval=0.05,
                on_listening=lambda h, p: bound.set_result(p),
            )
        )
        port = await bound
        before = (await health(port, first), await health(port, second))
        for f in ("tls.crt", "tls.key"):
            (live / f).write_bytes((second / f).read_bytes())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await health(port, second):
                break
        after = (await health(port, first), await health(port, second))
        stop.set()
        await task
        return before, after

    assert asyncio.run(go()) == ((True, False), (False, True))
