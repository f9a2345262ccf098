"""Helpers for the webhook tests: pods and AdmissionReviews as plain dicts."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.admission import apply_json_patch

RULES = """\
default: allow
rules:
  - from: sidecar
    to: app
    ports: [http]
    action: deny
"""


def make_pod(
    *,
    rules: str | None = RULES,
    app_uid: int | None = 1000,
    sidecar_uid: int | None = 1001,
    annotations: dict[str, str] | None = None,
    init_containers: list[dict] | None = None,
    pod_security: dict | None = None,
    name: str = "web",
) -> dict[str, Any]:
    """A two-container pod: ``app`` serving 8080 (named http) and 9090/UDP, and ``sidecar``."""

    def sc(uid: int | None) -> dict[str, Any]:
        return {"securityContext": {"runAsUser": uid}} if uid is not None else {}

    ann = dict(annotations or {})
    if rules is not None:
        ann["intrapod.kubereach.io/rules"] = rules
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    **sc(app_uid),
                    "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "protocol": "UDP"}],
                },
                {"name": "sidecar", "image": "envoy", **sc(sidecar_uid), "ports": [{"containerPort": 15000}]},
            ]
        },
    }
    if ann:
        pod["metadata"]["annotations"] = ann
    if init_containers is not None:
        pod["spec"]["initContainers"] = init_containers
    if pod_security is not None:
        pod["spec"]["securityContext"] = pod_security
    return pod


def make_review(
    pod: dict[str, Any], *, operation: str = "CREATE", old: dict | None = None, kind: str = "Pod"
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": operation,
            "object": pod,
            "oldObject": old,
            "userInfo": {"username": "tester"},
            "dryRun": False,
        },
    }


def decode_patch(response: dict[str, Any]) -> list[dict[str, Any]]:
    resp = response["response"]
    if "patch" not in resp:
        return []
    assert resp["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(resp["patch"]))


def patched(pod: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return apply_json_patch(copy.deepcopy(pod), decode_patch(response))


def init_config(pod: dict[str, Any]) -> dict[str, Any]:
    """The config the injected init container reads: the annotation its downward-API
    volume projects into the file its ``--config-file`` names."""
    from probe.intrapod import decode_config_text

    init = next(c for c in pod["spec"]["initContainers"] if c["name"] == "kubereach-intrapod")
    path = init["command"][init["command"].index("--config-file") + 1]
    directory, file = path.rsplit("/", 1)
    (mount,) = [m for m in init["volumeMounts"] if m["mountPath"] == directory]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    (item,) = [i for i in volume["downwardAPI"]["items"] if i["path"] == file]
    key = item["fieldRef"]["fieldPath"].removeprefix("metadata.annotations['").removesuffix("']")
    return decode_config_text(pod["metadata"]["annotations"][key])


KUBEREACH = str(Path(sys.executable).with_name("kubereach"))


class ServerLog(list[str]):
    """The server's stderr lines, read by a thread so the server never blocks on a full pipe."""


@contextlib.contextmanager
def serve_webhook(cert_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """`kubereach webhook serve` in a subprocess on a free port of 127.0.0.1: (process, port).

    Its log lines collect in ``proc.log`` (a :class:`ServerLog`)."""
    proc = subprocess.Popen(
        [
            KUBEREACH,
            "webhook",
            "serve",
            "--cert",
            str(cert_dir / "tls.crt"),
            "--key",
            str(cert_dir / "tls.key"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--agent-image",
            "ghcr.io/kubereach/agent:test",
            *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    log = proc.log = ServerLog()  # type: ignore[attr-defined]
    reader = threading.Thread(target=lambda: log.extend(iter(proc.stderr.readline, "")), daemon=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", line)
        assert m, f"server did not start: {line!r}"
        reader.start()
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if reader.is_alive():
            reader.join(10)
        proc.stderr.close()


def client_context(cert_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert_dir / "ca.crt"))


def post(port: int, path: str, body: bytes, ctx: ssl.SSLContext, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
