"""Helpers for the policy model tests (imported as ``model_helpers``): small clusters written inline.

``cluster(policies_yaml, pods=...)`` builds a snapshot of the standard cluster below
plus the given NetworkPolicies (YAML, several documents allowed), through the real
loader path (``snapshot_from_objects``), so validation runs too.

Standard cluster:
  namespace ``a`` (team=red), ``b`` (team=blue), ``c`` has pods but no Namespace object
  a/web   app=web,  10.0.0.1,   ports 80/TCP "http", 53/UDP "dns"
  a/db    app=db,   10.0.0.2,   ports 5432/TCP "pg", 9000/SCTP "sig"
  b/web   app=web,  10.0.1.1,   ports 8080/TCP "http"
  b/api   app=api,  fd00::5,    ports 443/TCP "https"
  c/tool  app=tool, 10.0.2.1,   no ports
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.model import PolicyModel, Verdict
from orchestrator.snapshot import Origin, Snapshot, snapshot_from_objects
from probe.schema import Protocol


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(
    namespace: str,
    name: str,
    labels: dict[str, str] | None = None,
    ip: str | None = None,
    ports: list[tuple] = (),
    host_network: bool = False,
) -> dict[str, Any]:
    """``ports``: (number, protocol, name|None) tuples on one container."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "nginx",
                    "ports": [
                        {"containerPort": n, "protocol": p, **({"name": nm} if nm else {})} for n, p, nm in ports
                    ],
                }
            ]
        },
    }
    if host_network:
        obj["spec"]["hostNetwork"] = True
    if ip:
        obj["status"] = {"podIP": ip, "podIPs": [{"ip": ip}]}
    return obj


STANDARD = [
    ns("a", team="red"),
    ns("b", team="blue"),
    pod("a", "web", {"app": "web"}, "10.0.0.1", [(80, "TCP", "http"), (53, "UDP", "dns")]),
    pod("a", "db", {"app": "db"}, "10.0.0.2", [(5432, "TCP", "pg"), (9000, "SCTP", "sig")]),
    pod("b", "web", {"app": "web"}, "10.0.1.1", [(8080, "TCP", "http")]),
    pod("b", "api", {"app": "api"}, "fd00::5", [(443, "TCP", "https")]),
    pod("c", "tool", {"app": "tool"}, "10.0.2.1", []),
]


def build(objects: list[dict[str, Any]]) -> Snapshot:
    return snapshot_from_objects((o, Origin("test", i)) for i, o in enumerate(objects, 1))


def cluster(policies_yaml: str = "", pods: list[dict[str, Any]] | None = None) -> Snapshot:
    docs = [d for d in yaml.safe_load_all(policies_yaml) if d] if policies_yaml else []
    for d in docs:
        d.setdefault("apiVersion", "networking.k8s.io/v1")
        d.setdefault("kind", "NetworkPolicy")
    return build((STANDARD if pods is None else pods) + docs)


def verdict(snapshot: Snapshot, src: str, dst: str, port: int, protocol: str = "TCP") -> Verdict:
    model = PolicyModel(snapshot)
    return model.evaluate(model.pod(src), model.pod(dst), port, Protocol(protocol))
