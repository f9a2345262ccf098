"""Helpers for the webhook tests: pods and AdmissionReviews as plain dicts."""

from __future__ import annotations

import base64
import copy
import json
import uuid
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
    """The --config document of the injected init container."""
    init = pod["spec"]["initContainers"][0]
    assert init["name"] == "kubereach-intrapod"
    i = init["command"].index("--config")
    return json.loads(init["command"][i + 1])
