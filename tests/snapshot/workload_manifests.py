"""Workload manifests for the snapshot and CLI tests (imported as ``workload_manifests``).

One object of every workload kind in namespace ``shop``, written as people write them
(no status, no generated labels), plus builders for variations.
"""

from __future__ import annotations

from typing import Any

import yaml

TEMPLATE = """
metadata:
  labels: {app: APP}
  annotations:
    intrapod.kubereach.io/rules: |
      default: allow
      rules: [{from: helper, to: main, ports: [http], action: deny}]
spec:
  securityContext: {runAsUser: 1000}
  initContainers:
    - name: side
      image: envoyproxy/envoy:v1.31-latest
      restartPolicy: Always
      securityContext: {runAsUser: 1002}
      ports: [{containerPort: 15001, name: proxy}]
  containers:
    - name: main
      image: nginx:1.27
      securityContext: {runAsUser: 1001}
      ports: [{containerPort: 8080, name: http}]
    - name: helper
      image: busybox:1.36
      securityContext: {runAsUser: 1003}
"""


def template(app: str, **spec: Any) -> dict[str, Any]:
    t = yaml.safe_load(TEMPLATE.replace("APP", app))
    t["spec"].update(spec)
    return t


def workload(kind: str, name: str, namespace: str | None = "shop", **spec: Any) -> dict[str, Any]:
    """A valid workload of ``kind`` whose pods are labelled ``app: NAME``."""
    api = {"Job": "batch/v1", "CronJob": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    body: dict[str, Any]
    if kind == "Job":
        body = {"template": template(name, restartPolicy="Never")}
    elif kind == "CronJob":
        body = {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template(name, restartPolicy="OnFailure")}},
        }
    elif kind == "ReplicationController":
        body = {"replicas": 2, "selector": {"app": name}, "template": template(name)}
    else:
        body = {"selector": {"matchLabels": {"app": name}}, "template": template(name)}
        if kind != "DaemonSet":
            body["replicas"] = 2
    body.update(spec)
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}


KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController")


def node(name: str, labels: dict[str, str] | None = None, taints: list | None = None, ip: str | None = None) -> dict:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}
    if taints:
        obj["spec"] = {"taints": taints}
    if ip:
        obj["status"] = {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}
    return obj


def dump(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
