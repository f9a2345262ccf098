"""``kubereach lab up --webhook``: run the intra-pod webhook next to a lab, wired in by URL.

In a real cluster the webhook runs as a Deployment behind a Service (manifests/webhook/).
The lab has no Services to route to, so here it runs as a lab *companion* process on
127.0.0.1 (``lab down`` stops it), with a CA and serving certificate for that address in
the lab's state directory, and the two webhook configurations point at it with
``clientConfig.url``. Everything else is as the shipped manifests say: the same rules,
selectors (opt-in label on the namespace) and ``failurePolicy: Fail``.

This runs between "the lab API answers" and "the manifests are applied" (the
``before_apply`` hook of :func:`lab.control.up`), so the demo's annotated pod is
admitted through the webhook on its first creation.
"""

from __future__ import annotations

import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import control
from lab.config import Companion, LabPaths
from probe.schema import DEFAULT_AGENT_IMAGE
from webhook.certs import generate, write_bundle

# The label a namespace carries to opt in (manifests/webhook/*-webhook.yaml select on it).
OPT_IN_LABEL = "intrapod.kubereach.io/enforce"
OPT_IN_VALUE = "true"
COMPANION = "webhook"
CERTS_DIR = "webhook-certs"
MUTATING_NAME = "kubereach-intrapod"
VALIDATING_NAME = "kubereach-intrapod"
START_TIMEOUT = 30.0  # seconds for `webhook serve` to listen and answer /healthz
_LISTENING = re.compile(r"listening on https://127\.0\.0\.1:(\d+)")

Progress = Callable[[str], None]


def configurations(port: int, ca_bundle: str) -> list[dict[str, Any]]:
    """The Mutating and Validating configurations of manifests/webhook/, by URL on 127.0.0.1."""
    pods = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}
    namespaces = {
        "matchExpressions": [
            {"key": OPT_IN_LABEL, "operator": "In", "values": [OPT_IN_VALUE]},
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubereach-system"]},
        ]
    }
    objects = {
        "matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["kubereach-webhook"]}]
    }
    labels = {
        "app.kubernetes.io/name": "kubereach-webhook",
        "app.kubernetes.io/part-of": "kubereach",
        "app.kubernetes.io/managed-by": "kubereach-lab",
    }

    def hook(name: str, path: str, operations: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "timeoutSeconds": 5,
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle},
            "rules": [{"operations": operations, **pods}],
            "namespaceSelector": namespaces,
            "objectSelector": objects,
        }

    mutating = hook("inject.intrapod.kubereach.io", "/mutate", ["CREATE"])
    mutating["reinvocationPolicy"] = "IfNeeded"  # as shipped; the lab does not reinvoke
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": MUTATING_NAME, "labels": labels},
            "webhooks": [mutating],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": VALIDATING_NAME, "labels": labels},
            "webhooks": [hook("validate.intrapod.kubereach.io", "/validate", ["CREATE", "UPDATE"])],
        },
    ]


def install(
    client: control.LabClient,
    paths: LabPaths,
    *,
    progress: Progress = lambda s: None,
    agent_image: str = DEFAULT_AGENT_IMAGE,
    python: str | None = None,
) -> int:
    """Certificates, `webhook serve` as a companion, wait for /healthz, configurations.

    Returns the port. Raises :class:`lab.control.LabError` with the webhook's log tail
    when it does not come up.
    """
    bundle = generate("kubereach-webhook", "kubereach-system", ips=["127.0.0.1"])
    files = write_bundle(bundle, paths.root / CERTS_DIR)
    argv = [
        python or sys.executable,
        "-m",
        "orchestrator",
        "webhook",
        "serve",
        "--cert",
        str(files["tls.crt"]),
        "--key",
        str(files["tls.key"]),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--agent-image",
        agent_image,
    ]
    companion = control.start_companion(paths.root, COMPANION, argv)
    progress(f"starting the intra-pod webhook (pid {companion.pid}, log {companion.log})")
    port = _wait_listening(companion, bundle.ca_pem)
    objs = configurations(port, bundle.ca_bundle)
    control.apply_objects(client, objs, source="kubereach lab up --webhook")
    progress(f"webhook on https://127.0.0.1:{port} admits pods of namespaces labelled {OPT_IN_LABEL}={OPT_IN_VALUE}")
    return port


def _wait_listening(companion: Companion, ca_pem: bytes) -> int:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    deadline = time.monotonic() + START_TIMEOUT
    port: int | None = None
    while time.monotonic() < deadline:
        if not control.companion_running(companion):
            raise control.LabError(
                f"the webhook exited while starting; its log ({companion.log}) ends with:\n"
                f"{control.companion_log_tail(companion)}"
            )
        if port is None:
            m = _LISTENING.search(Path(companion.log).read_text(errors="replace"))
            port = int(m.group(1)) if m else None
        if port is not None:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return port
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.1)
    raise control.LabError(
        f"the webhook did not answer /healthz within {START_TIMEOUT:.0f}s; its log "
        f"({companion.log}) ends with:\n{control.companion_log_tail(companion)}"
    )
