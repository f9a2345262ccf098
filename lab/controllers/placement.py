"""Which nodes a pod may run on (pure): what the scheduler and the DaemonSet controller share.

A node fits a pod when it is Ready, its labels satisfy the pod's ``nodeSelector`` and
``requiredDuringSchedulingIgnoredDuringExecution`` node affinity (terms OR-ed, the
expressions of a term AND-ed: In, NotIn, Exists, DoesNotExist, Gt, Lt; ``matchFields``
on ``metadata.name``), and every ``NoSchedule``/``NoExecute`` taint is tolerated. A
cordoned node (``spec.unschedulable``) takes no new pods from the scheduler; DaemonSet
pods tolerate it, as the real DaemonSet controller makes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def node_ready(node: Mapping[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _expression(expr: Mapping[str, Any], value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or ()]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            left, right = int(value), int(values[0])
        except ValueError:
            return False
        return left > right if op == "Gt" else left < right
    return False


def _term(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches no node
    for expr in exprs:
        if not _expression(expr, labels.get(expr.get("key"))):
            return False
    for expr in fields:
        value = node["metadata"]["name"] if expr.get("key") == "metadata.name" else None
        if not _expression(expr, value):
            return False
    return True


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def why_not(pod_spec: Mapping[str, Any], node: Mapping[str, Any], *, ignore_unschedulable: bool = False) -> str | None:
    """None if the pod may run on the node, else the scheduler's reason (for its message)."""
    if not node_ready(node):
        return "node(s) were not ready"
    if (node.get("spec") or {}).get("unschedulable") and not ignore_unschedulable:
        return "node(s) were unschedulable"
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != str(v) for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return "node(s) didn't match Pod's node affinity/selector"
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if required and not any(_term(t, node) for t in required):
        return "node(s) didn't match Pod's node affinity/selector"
    tolerations = list(pod_spec.get("tolerations") or [])
    for taint in (node.get("spec") or {}).get("taints") or ():
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
    return None


def capacity(node: Mapping[str, Any]) -> int:
    try:
        return int(((node.get("status") or {}).get("allocatable") or {}).get("pods", "110"))
    except ValueError:
        return 110
