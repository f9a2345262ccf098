"""Server-side printing: ``meta.k8s.io/v1 Table`` responses, as ``kubectl get`` asks for.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`` and prints
the columns the server defines; these are the columns of the real API server.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

_NAME = {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
_AGE = {"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}


def _col(name: str, priority: int = 0, typ: str = "string") -> dict[str, Any]:
    return {"name": name, "type": typ, "format": "", "description": name, "priority": priority}


def age(timestamp: str | None, now: _dt.datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = _dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return "<unknown>"
    secs = int(((now or _dt.datetime.now(_dt.UTC)) - then).total_seconds())
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    if secs < 600:
        return f"{secs // 60}m{secs % 60}s" if secs % 60 else f"{secs // 60}m"
    if secs < 3 * 3600:
        return f"{secs // 60}m"
    if secs < 8 * 3600:
        h, m = divmod(secs // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    if secs < 48 * 3600:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for s in statuses:
        state = s.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and status.get("phase") not in ("Running",):
            reason = state["terminated"].get("reason") or reason
    if status.get("phase") == "Pending" and not statuses:
        reason = "ContainerCreating" if status.get("podIP") else "Pending"
    inits = spec.get("initContainers") or []
    init_statuses = status.get("initContainerStatuses") or []
    done = sum(1 for s in init_statuses if (s.get("state") or {}).get("terminated", {}).get("exitCode") == 0)
    if inits and done < len(inits) and status.get("phase") == "Pending":
        reason = f"Init:{done}/{len(inits)}"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates")
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(containers)}",
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp")),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>" if not gates else f"{len(gates)}",
    ]


def _svc_ports(spec: dict[str, Any]) -> str:
    ports = [f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or ()]
    return ",".join(ports) or "<none>"


def _selector(sel: dict[str, Any] | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or ():
        parts.append(f"{expr.get('key')} {expr.get('operator')} ({','.join(expr.get('values') or [])})")
    return ",".join(parts) or "<none>"


COLUMNS: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "pods": (
        [
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", typ="integer"),
            _AGE,
            _col("IP", 1),
            _col("Node", 1),
            _col("Nominated Node", 1),
            _col("Readiness Gates", 1),
        ],
        _pod_row,
    ),
    "namespaces": (
        [_NAME, _col("Status"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            (o.get("status") or {}).get("phase", "Active"),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "services": (
        [_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _AGE, _col("Selector", 1)],
        lambda o: [
            o["metadata"]["name"],
            o["spec"].get("type", "ClusterIP"),
            o["spec"].get("clusterIP") or "<none>",
            "<none>",
            _svc_ports(o["spec"]),
            age(o["metadata"].get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in (o["spec"].get("selector") or {}).items()) or "<none>",
        ],
    ),
    "configmaps": (
        [_NAME, _col("Data", typ="integer"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
    "networkpolicies.networking.k8s.io": (
        [_NAME, _col("Pod-Selector"), _AGE],
        lambda o: [
            o["metadata"]["name"],
            _selector((o.get("spec") or {}).get("podSelector")),
            age(o["metadata"].get("creationTimestamp")),
        ],
    ),
}
_DEFAULT = ([_NAME, _AGE], lambda o: [o["metadata"]["name"], age(o["metadata"].get("creationTimestamp"))])


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    resource: str,
    items: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    resource_version: str = "",
    with_columns: bool = True,
) -> dict[str, Any]:
    columns, row = COLUMNS.get(resource, _DEFAULT)
    rows = []
    for obj in items:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = partial_metadata(obj)
        rows.append(entry)
    out: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "rows": rows,
    }
    out["columnDefinitions"] = columns if with_columns else []
    return out


def wants_table(accept: str) -> bool:
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params and "v=v1" in params:
            return True
    return False
