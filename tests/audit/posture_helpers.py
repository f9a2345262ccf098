"""Small builders for the posture tests: clusters and intents written inline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from model_helpers import build, ns, pod

from orchestrator.audit.intent import Intent, parse_intent
from orchestrator.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "manifests" / "demo")
DEMO_INTENT = str(ROOT / "manifests" / "demo-intent.yaml")
BIN = Path(sys.executable).parent


def kr(
    *args: str, cwd: str | Path = ROOT, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """The installed ``kubereach`` console script, as a user runs it."""
    return subprocess.run(
        [str(BIN / "kubereach"), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def policies(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    for d in docs:
        d.setdefault("apiVersion", "networking.k8s.io/v1")
        d.setdefault("kind", "NetworkPolicy")
    return docs


def snap(objects: list[dict[str, Any]], policy_yaml: str = "") -> Snapshot:
    return build(objects + policies(policy_yaml))


def intent(rules: list[dict[str, Any]], default: str = "unspecified") -> Intent:
    return parse_intent(
        {
            "apiVersion": "kubereach.io/v1alpha1",
            "kind": "ReachabilityIntent",
            "metadata": {"name": "t"},
            "spec": {"default": default, "rules": rules},
        }
    )


def shop() -> list[dict[str, Any]]:
    """A small shop: web and api in ``app``, a db in ``data``, each workload with its own labels."""
    return [
        ns("app", team="app"),
        ns("data", team="data"),
        pod("app", "web-1", {"app": "web"}, "10.0.0.1", [(8080, "TCP", "http")]),
        pod("app", "web-2", {"app": "web"}, "10.0.0.2", [(8080, "TCP", "http")]),
        pod("app", "api-1", {"app": "api"}, "10.0.0.3", [(8000, "TCP", "api")]),
        pod("data", "db-0", {"app": "db"}, "10.0.1.1", [(5432, "TCP", "pg")]),
    ]


__all__ = ["DEMO", "DEMO_INTENT", "ROOT", "build", "intent", "kr", "ns", "pod", "policies", "shop", "snap"]
