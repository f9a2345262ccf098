"""The lab's kubeconfig: written by ``up`` (mode 0600: it holds the token), found by ``lab kubeconfig``."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from lab.control.client import EXIT_USAGE, LabError, resolve


def render_kubeconfig(url: str, token: str, ca_pem: bytes, *, name: str = "kubereach-lab") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {"name": name, "cluster": {"server": url, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}
        ],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kubeconfig_path(*, state_dir: Path | str | None = None) -> Path:
    paths = resolve(state_dir)
    if not paths.kubeconfig.exists():
        raise LabError(f"no lab is running in {paths.root}", EXIT_USAGE)
    return paths.kubeconfig
